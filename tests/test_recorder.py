"""The recorder holds writes while a response is produced, and never longer than its bound.

Writes wait for the bot's first audio (so they don't compete with the LLM request and the TTS
stream for the event loop), or `max_hold_secs`, whichever comes first; order is kept and
`close` writes everything. The bounds here are either huge (a write that waits for them is the
bug) or tiny (a write that never comes is the bug), so nothing depends on the machine's speed.
"""

from __future__ import annotations

import asyncio
import functools

import pytest
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    Frame,
    LLMTextFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSTextFrame,
)
from pipecat.observers.base_observer import FramePushed
from pipecat.processors.aggregators.llm_response_universal import UserTurnMessageAddedMessage
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from assistant.pipeline import builder
from assistant.pipeline.memory import ConversationRecorder, MessageRecord, store_appender

FOREVER = 600.0  # a hold that never ends within a test


class Store:
    """An `AppendMessage` that keeps what it was given."""

    def __init__(self) -> None:
        self.saved: list[str | None] = []
        self._changed = asyncio.Condition()

    async def append(self, record: MessageRecord) -> None:
        async with self._changed:
            self.saved.append(record.content)
            self._changed.notify_all()

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[str | None]:
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: len(self.saved) >= count), timeout
            )
        return self.saved


async def user_turn_ends(recorder: ConversationRecorder, content: str) -> None:
    """What pipecat's user aggregator reports once the turn is decided (and the LLM started)."""
    await recorder._on_user_message(
        None, UserTurnMessageAddedMessage(content=content, timestamp="")
    )


async def pipeline_pushes(recorder: ConversationRecorder, frame: Frame) -> None:
    """What the pipeline tells the observer the builder registers (`recorder.observer`)."""
    source, destination = FrameProcessor(), FrameProcessor()
    await recorder.observer.on_push_frame(
        FramePushed(source, destination, frame, FrameDirection.DOWNSTREAM, timestamp=0)
    )


def tts_audio() -> TTSAudioRawFrame:
    return TTSAudioRawFrame(audio=bytes(640), sample_rate=16000, num_channels=1)


async def settle() -> None:
    """Give the writer every chance to write something it shouldn't."""
    for _ in range(20):
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)


@pytest.fixture
async def store_and_recorder():
    store = Store()
    recorder = ConversationRecorder(store.append, max_hold_secs=FOREVER)
    recorder.start()
    yield store, recorder
    await recorder.close(drain_secs=1)


@pytest.mark.parametrize("speaks", [tts_audio, BotStartedSpeakingFrame], ids=["tts", "transport"])
async def test_the_users_message_waits_for_the_bot_to_speak(store_and_recorder, speaks):
    store, recorder = store_and_recorder
    await user_turn_ends(recorder, "what's on today")
    recorder.record(MessageRecord(role="assistant", tool_calls=[{"id": "call_1"}]))
    await settle()
    assert store.saved == []  # the response is being produced: nothing written yet

    await pipeline_pushes(recorder, speaks())
    # Written right away: waiting for the (endless) bound would time out here.
    assert await store.wait_for(2) == ["what's on today", None]


async def test_a_bot_that_never_speaks_still_gets_everything_written_within_the_bound():
    store = Store()
    recorder = ConversationRecorder(store.append, max_hold_secs=0.05)
    recorder.start()
    try:
        await user_turn_ends(recorder, "hello?")
        recorder.record(MessageRecord(role="assistant", content="(tool call)"))
        assert await store.wait_for(2) == ["hello?", "(tool call)"]
        # Another turn, still no audio: held again, and again written within the bound.
        await user_turn_ends(recorder, "anyone there?")
        assert await store.wait_for(3) == ["hello?", "(tool call)", "anyone there?"]
    finally:
        await recorder.close(drain_secs=1)


async def test_the_response_being_produced_does_not_release_the_hold(store_and_recorder):
    store, recorder = store_and_recorder
    await user_turn_ends(recorder, "hi")
    for frame in (LLMTextFrame("Hello"), TTSStartedFrame(), TTSTextFrame("Hello", "word")):
        await pipeline_pushes(recorder, frame)
    await settle()
    assert store.saved == []


async def test_order_is_kept_across_holds(store_and_recorder):
    store, recorder = store_and_recorder
    recorder.record(MessageRecord(role="assistant", content="greeting"))  # no hold: written now
    assert await store.wait_for(1) == ["greeting"]
    await user_turn_ends(recorder, "one")
    for content in ("call", "result"):
        recorder.record(MessageRecord(role="assistant", content=content))
    await pipeline_pushes(recorder, tts_audio())
    recorder.record(MessageRecord(role="assistant", content="answer"))
    await user_turn_ends(recorder, "two")
    await pipeline_pushes(recorder, tts_audio())
    recorder.record(MessageRecord(role="assistant", content="answer two"))
    assert await store.wait_for(7) == [
        "greeting",
        "one",
        "call",
        "result",
        "answer",
        "two",
        "answer two",
    ]


async def test_close_writes_everything_held(store_and_recorder):
    store, recorder = store_and_recorder
    await user_turn_ends(recorder, "bye")
    recorder.record(MessageRecord(role="assistant", content="Goodbye!"))
    await settle()
    assert store.saved == []
    # The call ends before the bot speaks: close() (bounded at 5 s) must not wait out the hold.
    await recorder.close(drain_secs=5)
    assert store.saved == ["bye", "Goodbye!"]


async def test_flush_writes_everything_held(store_and_recorder):
    store, recorder = store_and_recorder
    await user_turn_ends(recorder, "note this")
    await asyncio.wait_for(recorder.flush(), 5)
    assert store.saved == ["note this"]


async def test_in_a_live_session_the_users_message_is_written_after_the_llm_request(
    headless, fake_groq, monkeypatch
):
    """The wiring: the user aggregator's event starts the hold, the TTS audio ends it."""
    monkeypatch.setattr(
        builder,
        "ConversationRecorder",
        functools.partial(ConversationRecorder, max_hold_secs=FOREVER),
    )
    chat_requests_at_write: dict[str, int] = {}

    def watched_appender(db, user_id, conversation_id):
        append = store_appender(db, user_id, conversation_id)

        async def watched(record: MessageRecord) -> None:
            chat_requests_at_write[record.role] = len(fake_groq.chat_requests)
            await append(record)

        return watched

    monkeypatch.setattr(builder, "store_appender", watched_appender)
    fake_groq.reply_text("You said hello.")
    async with headless.session(user="alice") as live:
        await live.user_says("hello there")
        rows = await live.wait_for_messages(lambda rows: len(rows) >= 2)
    assert [(m.role, m.content) for m in rows] == [
        ("user", "hello there"),
        ("assistant", "You said hello."),
    ]
    # Held through the LLM request (without the hold it would be written at the end of the
    # turn, before the request), and released by the bot's audio: the bound is endless.
    assert chat_requests_at_write["user"] == 1
