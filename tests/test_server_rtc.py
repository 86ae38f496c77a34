"""The real server with a Python WebRTC client (aiortc): talk, get answered, resume."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from fakes.harness import without_clock
from fakes.rtc_client import RTCClient
from fakes.speech import require_speech_tools, speech_wav
from tests.live_server import pin_ice_to_loopback, running_server


@pytest.fixture
def voice_server(settings, db, monkeypatch):
    require_speech_tools()
    pin_ice_to_loopback(monkeypatch)
    return lambda tool_factory=None: running_server(settings, db, tool_factory)


async def select(http: httpx.AsyncClient, user: str, conversation_id=None) -> str:
    response = await http.post(
        "/api/session",
        json={"user": user, "conversation_id": conversation_id, "timezone": "Europe/Paris"},
    )
    response.raise_for_status()
    return response.json()["conversation_id"]


async def wait_for_message(http: httpx.AsyncClient, conversation_id: str, text: str) -> None:
    """Poll the API until `text` is stored (the bot finished saying it)."""
    for _ in range(300):
        messages = (await http.get(f"/api/conversations/{conversation_id}/messages")).json()
        if any(m["content"] == text for m in messages):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{text!r} never stored; have {[m['content'] for m in messages]}")


async def test_voice_round_trip_and_resume_over_webrtc(voice_server, fake_groq, fake_cartesia):
    fake_groq.transcribe("my favourite music is jazz")
    fake_groq.reply_text("Lovely. Jazz it is, I will remember that.")
    async with voice_server(lambda context: []) as base_url:
        async with httpx.AsyncClient(base_url=base_url) as http:
            conversation_id = await select(http, "alice")
            client = RTCClient(http)
            try:
                await client.connect(speech_wav("my favourite music is jazz", lead_silence=2.5))
                await client.wait_until(lambda: client.server_messages("session"))
                await fake_groq.wait_for_chat_requests(1, timeout=30)
                await client.wait_until(lambda: "remember" in client.bot_said(), timeout=20)
                await client.wait_until(lambda: client.loud_audio_seconds() > 1.0)
            finally:
                await client.close()

            session_message = client.server_messages("session")[0]
            assert session_message["conversation_id"] == conversation_id
            assert session_message["resumed"] is False
            transcripts = [m["data"]["text"] for m in client.of_type("user-transcription")]
            assert "my favourite music is jazz" in transcripts
            assert client.of_type("bot-ready")

            messages = (await http.get(f"/api/conversations/{conversation_id}/messages")).json()
            said = [(m["role"], m["content"]) for m in messages]
            assert ("user", "my favourite music is jazz") in said
            assert ("assistant", "Lovely. Jazz it is, I will remember that.") in said

            # Resume from the list: the next LLM request carries the earlier exchange.
            listed = (await http.get("/api/conversations")).json()
            assert [c["id"] for c in listed] == [conversation_id]
            await select(http, "alice", conversation_id)
            fake_groq.transcribe("what music do I like")
            fake_groq.reply_text("You like jazz.")
            client = RTCClient(http)
            try:
                await client.connect(speech_wav("what music do I like", lead_silence=2.5))
                await fake_groq.wait_for_chat_requests(2, timeout=30)
                await client.wait_until(lambda: client.server_messages("session"))
            finally:
                await client.close()
            assert client.server_messages("session")[0]["resumed"] is True
            history = str(fake_groq.chat_requests[1]["messages"])
            assert "my favourite music is jazz" in history
            assert "Jazz it is" in history
    assert fake_groq.protocol_errors == []


async def test_two_users_talk_at_once_and_sessions_end_cleanly(
    voice_server, fake_groq, fake_cartesia
):
    def answer(request):
        said = [
            without_clock(m.get("content")) or ""
            for m in request["messages"]
            if m["role"] == "user"
        ]
        return f"You said {said[-1]}."

    fake_groq.reply_with(answer, times=2)
    fake_groq.transcribe("I am alice")
    fake_groq.transcribe("I am bob")
    async with voice_server(lambda context: []) as base_url:
        async with (
            httpx.AsyncClient(base_url=base_url) as alice_http,
            httpx.AsyncClient(base_url=base_url) as bob_http,
        ):
            alice_conversation = await select(alice_http, "alice")
            bob_conversation = await select(bob_http, "bob")
            alice, bob = RTCClient(alice_http), RTCClient(bob_http)
            try:
                await alice.connect(speech_wav("I am alice", lead_silence=2.5))
                await bob.connect(speech_wav("I am bob", lead_silence=4.5))
                health = (await alice_http.get("/healthz")).json()
                assert health["voice_sessions"] == 2
                await wait_for_message(alice_http, alice_conversation, "You said I am alice.")
                await wait_for_message(bob_http, bob_conversation, "You said I am bob.")
            finally:
                await alice.close()
                await bob.close()

            # Disconnecting ends each bot: nothing left running, everything saved.
            for _ in range(100):
                if (await alice_http.get("/healthz")).json()["voice_sessions"] == 0:
                    break
                await asyncio.sleep(0.1)
            assert (await alice_http.get("/healthz")).json()["voice_sessions"] == 0

            alice_said = await alice_http.get(f"/api/conversations/{alice_conversation}/messages")
            bob_said = await bob_http.get(f"/api/conversations/{bob_conversation}/messages")
            alice_texts = [m["content"] for m in alice_said.json()]
            bob_texts = [m["content"] for m in bob_said.json()]
            # Each heard the answer to their own words, and only that.
            assert "You said I am alice." in alice_texts and "You said I am bob." in bob_texts
            assert not any("bob" in (t or "") for t in alice_texts)
            assert not any("alice" in (t or "") for t in bob_texts)


async def test_a_conversation_opened_in_another_tab_moves_there(
    voice_server, fake_groq, fake_cartesia
):
    fake_groq.transcribe("my favourite colour is green")
    fake_groq.reply_text("Green it is.")
    async with voice_server(lambda context: []) as base_url:
        async with (
            httpx.AsyncClient(base_url=base_url) as first_tab,
            httpx.AsyncClient(base_url=base_url) as second_tab,
        ):
            conversation_id = await select(first_tab, "alice")
            first, second = RTCClient(first_tab), RTCClient(second_tab)
            try:
                await first.connect(speech_wav("my favourite colour is green", lead_silence=2.5))
                await wait_for_message(first_tab, conversation_id, "Green it is.")

                await select(second_tab, "alice", conversation_id)
                fake_groq.transcribe("what colour do I like")
                fake_groq.reply_text("You like green.")
                await second.connect(speech_wav("what colour do I like", lead_silence=2.5))
                await first.wait_until(lambda: first.server_messages("session-moved"))
                await second.wait_until(lambda: second.server_messages("session"))
                await wait_for_message(second_tab, conversation_id, "You like green.")
                voice_sessions = [(await second_tab.get("/healthz")).json()["voice_sessions"]]
                for _ in range(50):  # the first session's task ends just after it hands over
                    if voice_sessions[-1] == 1:
                        break
                    await asyncio.sleep(0.1)
                    voice_sessions.append(
                        (await second_tab.get("/healthz")).json()["voice_sessions"]
                    )
            finally:
                await first.close()
                await second.close()

    # The first tab was told, and its session ended: one conversation, one live session.
    assert first.server_messages("session-moved") == [
        {"type": "session-moved", "conversation_id": conversation_id}
    ]
    assert voice_sessions[-1] == 1
    assert second.server_messages("session")[0]["resumed"] is True
    # The second tab's session went on from everything the first one stored.
    second_request = fake_groq.chat_requests[-1]["messages"]
    assert {"role": "user", "content": "my favourite colour is green"} in second_request
    assert {"role": "assistant", "content": "Green it is."} in second_request
