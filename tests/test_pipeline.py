"""Acceptance for the foundation: a spoken turn is answered, saved, and remembered on resume."""

from __future__ import annotations

import pytest

from fakes.harness import without_clock
from fakes.speech import rms


async def test_spoken_turn_is_answered_saved_and_resumed(headless, fake_groq, fake_cartesia):
    fake_groq.reply_text("Nice to meet you, Alice. I'll remember that you love jazz.")
    async with headless.session(user="alice") as live:
        await live.user_says("my favourite music is jazz")
        rows = await live.wait_for_messages(lambda rows: len(rows) >= 2)
        audio = await live.wait_for_audio(min_bytes=4800)
        conversation_id = live.spec.conversation_id

    assert [(m.role, m.content) for m in rows] == [
        ("user", "my favourite music is jazz"),
        ("assistant", "Nice to meet you, Alice. I'll remember that you love jazz."),
    ]
    # The fake STT got the real spoken audio, as a WAV of about the utterance's length.
    transcription = fake_groq.transcription_requests[0]
    assert transcription.duration and transcription.duration > 0.5
    assert transcription["model"] == "whisper-large-v3-turbo"
    # The fake TTS spoke the answer with sonic-3, and non-silent audio reached the output.
    spoken = [r for r in fake_cartesia.requests if r.get("transcript", "").strip()]
    assert "jazz" in " ".join(r["transcript"] for r in spoken)
    assert {r["model_id"] for r in spoken} == {"sonic-3"}
    assert rms(audio) > 100
    first_request = fake_groq.chat_requests[0]
    assert first_request["model"] == "llama-3.3-70b-versatile"

    # A second pipeline for the same conversation sends the first exchange to the LLM.
    fake_groq.reply_text("You told me you love jazz.")
    async with headless.session(user="alice", conversation_id=conversation_id) as live:
        assert live.session.resumed
        await live.user_says("what music do I like")
        await fake_groq.wait_for_chat_requests(2, timeout=15)
        await live.wait_for_messages(lambda rows: len(rows) >= 4)

    resumed_messages = fake_groq.chat_requests[1]["messages"]
    texts = [
        (m["role"], without_clock(m.get("content")))
        for m in resumed_messages
        if m["role"] != "system"
    ]
    assert texts[:3] == [
        ("user", "my favourite music is jazz"),
        ("assistant", "Nice to meet you, Alice. I'll remember that you love jazz."),
        ("user", "what music do I like"),
    ]
    assert fake_groq.protocol_errors == []


async def test_another_user_sees_none_of_it(headless, fake_groq):
    fake_groq.reply_text("Noted, your code word is pineapple.")
    async with headless.session(user="alice") as live:
        await live.user_says("my code word is pineapple")
        await live.wait_for_messages(lambda rows: len(rows) >= 2)
        alice_conversation = live.spec.conversation_id

    fake_groq.reply_text("I don't know your code word.")
    async with headless.session(user="bob") as live:
        assert live.spec.conversation_id != alice_conversation
        assert not live.session.resumed
        await live.user_says("what is my code word")
        await fake_groq.wait_for_chat_requests(2, timeout=15)

    bob_request = fake_groq.chat_requests[1]
    assert "pineapple" not in str(bob_request["messages"])

    # Bob naming Alice's conversation id is refused like a missing one.
    with pytest.raises(LookupError):
        async with headless.session(user="bob", conversation_id=alice_conversation):
            pass


async def test_default_smart_turn_detection_ends_the_turn(headless, fake_groq):
    """The shipped default: Silero VAD + pipecat's bundled smart-turn model end the turn."""
    headless.settings = headless.settings.model_copy(update={"turn_detection": "smart-turn"})
    fake_groq.reply_text("Smart turn heard you.")
    stopped_by = []
    async with headless.session(user="carol") as live:

        @live.session.processors["user"].event_handler("on_user_turn_stopped")
        async def _stopped(_aggregator, strategy, _message):
            stopped_by.append(type(strategy).__name__)

        await live.user_says("set a reminder to call mom at nine tomorrow morning")
        rows = await live.wait_for_messages(lambda rows: len(rows) >= 2, timeout=20)
    assert [m.role for m in rows] == ["user", "assistant"]
    assert rows[1].content == "Smart turn heard you."
    assert stopped_by == ["TurnAnalyzerUserTurnStopStrategy"]
