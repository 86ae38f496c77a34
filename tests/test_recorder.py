"""The recorder holds writes while a response is produced, and never longer than its bound.

Writes wait for the bot's first audio (so they don't compete with the LLM request and the TTS
stream for the event loop), or `max_hold_secs`, whichever comes first; order is kept and
`close` writes everything. The hold runs on a `ControlledClock` that only the test moves, and
the tests wait for what the writer does (hold a record, save it) rather than for time to pass,
so nothing depends on the machine's speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable

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
from assistant.pipeline.memory import ConversationRecorder, MessageRecord, Record, store_appender

FOREVER = 600.0  # a hold that never ends within a test


class Store:
    """An `AppendMessage` that keeps what it was given, in a timeline of the writer's moves."""

    def __init__(self) -> None:
        self.saved: list[str | None] = []
        self.events: list[str] = []  # "hold", "expire", "release", "saved <content>"
        self._changed = asyncio.Event()

    def event(self, event: str) -> None:
        self.events.append(event)
        self._changed.set()

    async def append(self, record: MessageRecord) -> None:
        self.saved.append(record.content)
        self.event(f"saved {record.content}")

    async def wait_until(self, predicate: Callable[[list[str]], bool]) -> list[str]:
        async with asyncio.timeout(10):  # only if the recorder hangs
            while not predicate(self.events):
                self._changed.clear()
                await self._changed.wait()
        return self.events

    async def wait_for(self, count: int) -> list[str | None]:
        await self.wait_until(lambda _: len(self.saved) >= count)
        return self.saved

    async def next_move(self) -> list[str]:
        """The writer's next move: holding its record or (if the hold failed) saving it."""
        seen = len(self.events)
        return await self.wait_until(lambda events: len(events) > seen)


class ControlledClock:
    """The recorder's clock and hold timeout, moved only by `advance`.

    Each hold is a real `asyncio.timeout` with no deadline of its own; `advance` expires the
    ones whose deadline (on this clock) it passes. The store's timeline gets "hold" when the
    writer starts holding, "expire" when the clock ends a hold, "release" when the bot did.
    """

    def __init__(self, store: Store) -> None:
        self.now = 1000.0
        self._store = store
        self._holds: dict[asyncio.Timeout, float] = {}

    def __call__(self) -> float:
        return self.now

    @contextlib.asynccontextmanager
    async def timeout(self, delay: float) -> AsyncIterator[None]:
        async with asyncio.timeout(None) as hold:
            self._holds[hold] = self.now + delay
            self._store.event("hold")
            try:
                yield
            finally:
                del self._holds[hold]
        if not hold.expired():
            self._store.event("release")

    def advance(self, secs: float) -> None:
        self.now += secs
        for hold, deadline in self._holds.items():
            if deadline <= self.now and not hold.expired():
                self._store.event("expire")
                hold.reschedule(asyncio.get_running_loop().time())  # expires at once


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


@contextlib.asynccontextmanager
async def controlled_recorder(max_hold_secs: float = FOREVER):
    store = Store()
    clock = ControlledClock(store)
    recorder = ConversationRecorder(
        store.append, max_hold_secs=max_hold_secs, clock=clock, timeout=clock.timeout
    )
    recorder.start()
    try:
        yield store, clock, recorder
    finally:
        await recorder.close(drain_secs=1)


@pytest.fixture
async def store_and_recorder():
    async with controlled_recorder() as (store, _clock, recorder):
        yield store, recorder


@pytest.mark.parametrize("speaks", [tts_audio, BotStartedSpeakingFrame], ids=["tts", "transport"])
async def test_the_users_message_waits_for_the_bot_to_speak(store_and_recorder, speaks):
    store, recorder = store_and_recorder
    await user_turn_ends(recorder, "what's on today")
    recorder.record(MessageRecord(role="assistant", tool_calls=[{"id": "call_1"}]))
    # The response is being produced: the writer holds the message instead of saving it.
    assert await store.next_move() == ["hold"]

    await pipeline_pushes(recorder, speaks())
    assert await store.wait_for(2) == ["what's on today", None]
    assert store.events == ["hold", "release", "saved what's on today", "saved None"]


async def test_a_bot_that_never_speaks_still_gets_everything_written_within_the_bound():
    async with controlled_recorder(max_hold_secs=0.5) as (store, clock, recorder):
        await user_turn_ends(recorder, "hello?")
        recorder.record(MessageRecord(role="assistant", content="(tool call)"))
        assert await store.next_move() == ["hold"]
        clock.advance(0.49)
        assert store.events == ["hold"]  # not yet at the bound
        clock.advance(0.01)
        assert await store.wait_for(2) == ["hello?", "(tool call)"]
        assert store.events == ["hold", "expire", "saved hello?", "saved (tool call)"]

        # Another turn, still no audio: held again, and again written at the bound.
        await user_turn_ends(recorder, "anyone there?")
        assert (await store.next_move())[4:] == ["hold"]
        clock.advance(0.5)
        assert await store.wait_for(3) == ["hello?", "(tool call)", "anyone there?"]
        assert store.events[4:] == ["hold", "expire", "saved anyone there?"]


async def test_the_response_being_produced_does_not_release_the_hold():
    async with controlled_recorder(max_hold_secs=0.5) as (store, clock, recorder):
        await user_turn_ends(recorder, "hi")
        assert await store.next_move() == ["hold"]
        for frame in (LLMTextFrame("Hello"), TTSStartedFrame(), TTSTextFrame("Hello", "word")):
            await pipeline_pushes(recorder, frame)
        # Only the bound ends this hold: a frame that released it would have woken the writer
        # first (it runs before the expiry, which is only scheduled now) and made it "release".
        clock.advance(0.5)
        assert await store.wait_for(1) == ["hi"]
        assert store.events == ["hold", "expire", "saved hi"]


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
    assert await store.next_move() == ["hold"]
    # The call ends before the bot speaks: close() must not wait out the (endless) hold.
    await recorder.close(drain_secs=5)
    assert store.saved == ["bye", "Goodbye!"]
    assert store.events == ["hold", "release", "saved bye", "saved Goodbye!"]


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

        async def watched(record: Record) -> None:
            if isinstance(record, MessageRecord):  # not the usage records
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
