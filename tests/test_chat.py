"""Typed turns: `POST /api/conversations/{id}/chat` without a call, on a text session of the
voice session's builder (the same LLM, context, tools, recorder), against the fake Groq."""

from __future__ import annotations

import asyncio
import json
import re
import wave
from pathlib import Path

import httpx
import pytest

from assistant.runtime.chat import Chat
from assistant.server.app import create_app
from assistant.server.chat import MAX_TYPED_CHARS
from assistant.store.repository import NoteRepository, UserRepository
from assistant.tools.registry import default_tools
from fakes.harness import without_clock
from fakes.rtc_client import RTCClient
from fakes.speech import require_speech_tools
from tests.browsers import browsers
from tests.live_server import pin_ice_to_loopback, running_server


@pytest.fixture
async def app(settings, db):
    app = create_app(settings, db=db, tool_factory=default_tools)
    yield app
    await app.state.chat.shutdown()


@pytest.fixture
async def api(app):
    async with browsers(app, timeout=30) as client:
        yield client


def keep_text_sessions(app, secs: float) -> Chat:
    chat = app.state.chat = Chat(
        app.state.settings, app.state.db, app.state.bots, default_tools, keep_secs=secs
    )
    return chat


async def text_session_ended(chat: Chat, conversation: str) -> None:
    await asyncio.wait_for(chat.text_session_ended(conversation), 20)


async def start(client: httpx.AsyncClient, user: str) -> str:
    response = await client.post(
        "/api/session", json={"user": user, "conversation_id": None, "timezone": "UTC"}
    )
    assert response.status_code == 200, response.text
    return response.json()["conversation_id"]


def stored(messages: list[dict]) -> list[tuple]:
    return [(m["role"], m["content"], bool(m["tool_calls"])) for m in messages]


async def test_a_typed_turn_is_answered_and_stored(api, fake_groq):
    alice = api()
    conversation = await start(alice, "alice")
    fake_groq.reply_text("Hello Alice, nice to meet you.")

    response = await alice.post(f"/api/conversations/{conversation}/chat", json={"text": " hi "})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["reply"] == "Hello Alice, nice to meet you."
    assert stored(body["messages"]) == [
        ("user", "hi", False),
        ("assistant", "Hello Alice, nice to meet you.", False),
    ]
    listed = (await alice.get(f"/api/conversations/{conversation}/messages")).json()
    assert listed == body["messages"]  # the same shape as GET messages, and all of this turn
    # The model got the system instruction and the typed words, as for a spoken turn.
    request = fake_groq.chat_requests[-1]
    assert request["messages"][0]["role"] == "system"
    assert without_clock(request["messages"][-1]["content"]) == "hi"
    # What applies to a typed turn: the model's first token, measured by pipecat.
    assert set(body["timings"]) == {"llm_secs"} and body["timings"]["llm_secs"] > 0


@pytest.mark.parametrize("keep_secs", [0, 600], ids=["resumed-from-the-store", "kept"])
async def test_the_next_typed_turn_carries_the_conversation(app, api, fake_groq, keep_secs):
    chat = keep_text_sessions(app, keep_secs)
    alice = api()
    conversation = await start(alice, "alice")
    fake_groq.reply_text("Jazz, noted.")
    fake_groq.reply_text("You like jazz.")
    first = await alice.post(
        f"/api/conversations/{conversation}/chat", json={"text": "I like jazz"}
    )
    assert first.status_code == 200, first.text
    kept = app.state.bots.live(conversation)
    if keep_secs == 0:  # ended at once: the next turn's session loads it from the store
        await text_session_ended(chat, conversation)
        assert app.state.bots.live(conversation) is None
    else:
        assert kept is not None and kept.text_only
    second = await alice.post(
        f"/api/conversations/{conversation}/chat", json={"text": "what do I like?"}
    )
    assert second.status_code == 200, second.text
    sent = [
        (m["role"], without_clock(m.get("content")))
        for m in fake_groq.chat_requests[-1]["messages"]
    ]
    assert sent[1:] == [
        ("user", "I like jazz"),
        ("assistant", "Jazz, noted."),
        ("user", "what do I like?"),
    ]
    assert [m["seq"] for m in second.json()["messages"]] == [3, 4]
    if keep_secs:  # the same session answered both
        assert app.state.bots.live(conversation) is kept


async def test_a_note_taken_by_typing_is_the_same_note(api, db, fake_groq):
    alice = api()
    conversation = await start(alice, "alice")
    fake_groq.reply_tool_call("take_note", {"content": "buy oat milk"})
    fake_groq.reply_text("Noted: buy oat milk.")

    response = await alice.post(
        f"/api/conversations/{conversation}/chat",
        json={"text": "note that I need to buy oat milk"},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["reply"] == "Noted: buy oat milk."
    assert stored(body["messages"]) == [
        ("user", "note that I need to buy oat milk", False),
        ("assistant", None, True),
        ("tool", body["messages"][2]["content"], False),
        ("assistant", "Noted: buy oat milk.", False),
    ]
    assert {"type": "notes-changed"} in body["notices"]
    notes = (await alice.get("/api/notes")).json()
    assert [n["content"] for n in notes] == ["buy oat milk"]
    async with db.transaction() as store:
        user = await UserRepository(store).get_by_name("alice")
        assert [n.content for n in await NoteRepository(store, user.id).recent()] == [
            "buy oat milk"
        ]


async def test_the_reply_streams_as_server_sent_events(api, fake_groq):
    alice = api()
    conversation = await start(alice, "alice")
    fake_groq.reply_text("One, two, three, four.")

    events = []
    async with alice.stream(
        "POST",
        f"/api/conversations/{conversation}/chat",
        json={"text": "count to four"},
        headers={"Accept": "text/event-stream"},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        name = None
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))

    texts = [data["text"] for name, data in events if name == "text"]
    assert len(texts) > 1 and "".join(texts).strip() == "One, two, three, four."
    assert [name for name, _ in events][-1] == "done"
    done = events[-1][1]
    assert done["reply"] == "One, two, three, four."
    assert stored(done["messages"]) == [
        ("user", "count to four", False),
        ("assistant", "One, two, three, four.", False),
    ]


async def test_another_users_conversation_is_404(api, fake_groq):
    alice, bob = api(), api()
    conversation = await start(alice, "alice")
    await start(bob, "bob")
    response = await bob.post(f"/api/conversations/{conversation}/chat", json={"text": "hi"})
    assert response.status_code == 404
    missing = await alice.post("/api/conversations/nope/chat", json={"text": "hi"})
    assert missing.status_code == 404
    assert fake_groq.chat_requests == []


@pytest.mark.parametrize("text", ["", "   ", "x" * (MAX_TYPED_CHARS + 1)])
async def test_empty_or_over_long_text_is_422(api, db, fake_groq, text):
    alice = api()
    conversation = await start(alice, "alice")
    response = await alice.post(f"/api/conversations/{conversation}/chat", json={"text": text})
    assert response.status_code == 422
    assert fake_groq.chat_requests == []
    ok = await alice.post(
        f"/api/conversations/{conversation}/chat", json={"text": "x" * MAX_TYPED_CHARS}
    )
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize(
    ("fail", "status", "words"),
    [
        (lambda groq: groq.reply_error(500, times=3), 502, "language service failed"),
        (lambda groq: groq.reply_tool_use_failed(), 502, "language service failed"),
        (lambda groq: groq.reply_rate_limit(per="day", retry_after=3600), 429, "daily limit"),
    ],
    ids=["outage", "400-tool-use-failed", "daily-limit"],
)
async def test_a_failed_turn_says_why_and_keeps_the_words(api, db, fake_groq, fail, status, words):
    alice = api()
    conversation = await start(alice, "alice")
    fail(fake_groq)

    response = await alice.post(
        f"/api/conversations/{conversation}/chat", json={"text": "remember my locker is 12"}
    )

    assert response.status_code == status, response.text
    assert words in response.json()["detail"]
    listed = (await alice.get(f"/api/conversations/{conversation}/messages")).json()
    assert stored(listed) == [("user", "remember my locker is 12", False)]
    # The conversation goes on at the next turn.
    fake_groq.clear()
    fake_groq.reply_text("Locker 12, got it.")
    again = await alice.post(f"/api/conversations/{conversation}/chat", json={"text": "again"})
    if status == 429:  # Groq is not asked again until the daily limit resets
        return
    assert again.status_code == 200, again.text
    assert again.json()["reply"] == "Locker 12, got it."


def silent_wav(path) -> Path:
    """A microphone that says nothing: the call's only turn is typed."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\0\0" * 16000 * 3)
    return path


async def test_typed_during_a_call_goes_into_the_call(
    settings, db, fake_groq, monkeypatch, tmp_path
):
    require_speech_tools()
    pin_ice_to_loopback(monkeypatch)
    async with running_server(settings, db, default_tools) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            conversation = await start(http, "alice")
            # Typed first, without a call: its text session is kept for the next typed turn,
            # and the call takes the conversation over from it.
            fake_groq.reply_text("Typed, not said.")
            before = await http.post(
                f"/api/conversations/{conversation}/chat", json={"text": "before the call"}
            )
            assert before.status_code == 200, before.text
            assert before.json()["live"] is False
            client = RTCClient(http)
            try:
                await client.connect(silent_wav(tmp_path / "silence.wav"))
                await client.wait_until(lambda: client.of_type("bot-stopped-speaking"))
                fake_groq.reply_text("Typed in, said aloud.")

                response = await http.post(
                    f"/api/conversations/{conversation}/chat", json={"text": "hello by keyboard"}
                )

                assert response.status_code == 200, response.text
                body = response.json()
                assert body["live"] is True and body["reply"] == "Typed in, said aloud."
                # Answered once said: the call's page got the words and the voice.
                assert "typed in, said aloud" in client.bot_said()
                await client.wait_until(lambda: client.server_messages("turn-timings"))
                timing = client.server_messages("turn-timings")[-1]
                assert set(timing) == {"type", "llm_secs", "tts_secs"}
                assert body["timings"] == {k: v for k, v in timing.items() if k != "type"}
            finally:
                await client.close()
            assert stored(body["messages"]) == [
                ("user", "hello by keyboard", False),
                ("assistant", "Typed in, said aloud.", False),
            ]
            # One conversation, one context: the call's request carried the greeting too.
            sent = [
                (m["role"], without_clock(m["content"]))
                for m in fake_groq.chat_requests[-1]["messages"]
            ]
            assert sent[-4:] == [
                ("user", "before the call"),
                ("assistant", "Typed, not said."),
                ("assistant", "Welcome back, alice. Let's pick up where we left off."),
                ("user", "hello by keyboard"),
            ]


def test_the_page_allows_what_the_server_takes():
    from assistant.server.app import STATIC_DIR

    typing_js = (STATIC_DIR / "typing.js").read_text()
    page = (STATIC_DIR / "index.html").read_text()
    assert f"export const MAX_TYPED_CHARS = {MAX_TYPED_CHARS};" in typing_js
    box = re.search(r'<textarea id="type-text"[^>]*>', page)
    assert box and f'maxlength="{MAX_TYPED_CHARS}"' in box.group(0)
