"""Drive a real voice session headless: real audio in, the fakes behind it, audio frames out.

async with headless.session(user="alice") as live:
    fake_groq.reply_text("Hello!")
    await live.user_says("hi there")
    await live.wait_for_assistant_reply()
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pipecat.frames.frames import (
    EndFrame,
    Frame,
    InputAudioRawFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.utils.time import time_now_iso8601

from assistant.config import Settings
from assistant.pipeline.builder import SessionSpec, VoiceSession, build_voice_session
from assistant.store.database import Database
from assistant.store.models import Message
from assistant.store.repository import ConversationRepository, UserRepository
from assistant.tools import ToolFactory
from fakes.groq import FakeGroq
from fakes.speech import SAMPLE_RATE, speech_pcm

CHUNK_SECS = 0.02
# The time carried with the user's latest turn in each LLM request (pipeline.prompt.clock_line).
_CLOCK_LINE = re.compile(r"^\[Local time: [^\]\n]*\]\n")


def without_clock(content: str | None) -> str | None:
    """A request message's text as the user said it (and as it is stored)."""
    return _CLOCK_LINE.sub("", content) if isinstance(content, str) else content


class AudioCapture(FrameProcessor):
    """Stands where the output transport would: records the bot's audio."""

    def __init__(self) -> None:
        super().__init__()
        self.audio = bytearray()
        self.audio_frames = 0
        self.changed = asyncio.Event()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSAudioRawFrame):
            self.audio.extend(frame.audio)
            self.audio_frames += 1
            self.changed.set()
        await self.push_frame(frame, direction)


@dataclass
class LiveSession:
    session: VoiceSession
    capture: AudioCapture
    db: Database
    fake_groq: FakeGroq
    task: asyncio.Task | None = None
    turns: int = field(default=0)

    @property
    def spec(self) -> SessionSpec:
        return self.session.spec

    async def user_says(self, text: str, *, transcript: str | None = None) -> None:
        """Play `text` as real speech; the fake STT answers with `transcript` (default: text)."""
        self.fake_groq.transcribe(transcript if transcript is not None else text)
        pcm = speech_pcm(text)
        step = int(SAMPLE_RATE * CHUNK_SECS) * 2
        for start in range(0, len(pcm), step):
            await self.session.worker.queue_frame(
                InputAudioRawFrame(
                    audio=pcm[start : start + step], sample_rate=SAMPLE_RATE, num_channels=1
                )
            )
            # Real time pace: VAD and turn timers measure wall-clock silence.
            await asyncio.sleep(CHUNK_SECS)
        self.turns += 1

    async def user_said(self, text: str, *, timeout: float = 10.0) -> None:
        """A user turn given as its transcript (no audio, no Whisper request), then the wait
        for the assistant turn that follows it (the reply, or an apology).

        Quick enough for long sessions. The transcript starts the turn and, with
        TURN_DETECTION=silence (the fixture's), that silence ends it.
        """
        assistant = self.session.processors["assistant"]
        answered = asyncio.Event()

        async def on_stopped(_aggregator, _message) -> None:
            answered.set()

        assistant.add_event_handler("on_assistant_turn_stopped", on_stopped)
        try:
            await self.session.worker.queue_frame(
                TranscriptionFrame(text, self.spec.user_name, time_now_iso8601(), finalized=True)
            )
            await asyncio.wait_for(answered.wait(), timeout)
        finally:
            assistant.remove_event_handler("on_assistant_turn_stopped", on_stopped)
        self.turns += 1

    async def messages(self) -> list[Message]:
        async with self.db.transaction() as store:
            repo = ConversationRepository(store, self.spec.user_id)
            return list(await repo.messages(self.spec.conversation_id))

    async def wait_for_messages(
        self, predicate: Callable[[list[Message]], bool], timeout: float = 10.0
    ) -> list[Message]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            rows = await self.messages()
            if predicate(rows):
                return rows
            if asyncio.get_running_loop().time() > deadline:
                roles = [(m.role, m.content) for m in rows]
                raise AssertionError(f"timed out waiting for stored messages; have {roles}")
            await asyncio.sleep(0.05)

    async def wait_for_audio(self, min_bytes: int = 1, timeout: float = 10.0) -> bytes:
        async def enough() -> None:
            while len(self.capture.audio) < min_bytes:
                self.capture.changed.clear()
                await self.capture.changed.wait()

        await asyncio.wait_for(enough(), timeout)
        return bytes(self.capture.audio)

    async def stop(self) -> None:
        if self.task is None:
            return
        await self.session.worker.queue_frame(EndFrame())
        try:
            await asyncio.wait_for(asyncio.shield(self.task), 10)
        except TimeoutError:
            await self.session.worker.cancel()
            await self.task
        self.task = None


@dataclass
class Headless:
    """Starts headless sessions against the fakes; one per test via the `headless` fixture."""

    settings: Settings
    db: Database
    fake_groq: FakeGroq
    tool_factory: ToolFactory | None = None
    session_hooks: Sequence[Callable[[VoiceSession], None]] = ()
    now: Callable[[], datetime] | None = None

    async def open_conversation(
        self, user: str = "alice", conversation_id: str | None = None, timezone: str = "UTC"
    ) -> SessionSpec:
        async with self.db.transaction() as store:
            account = await UserRepository(store).get_or_create(user, timezone=timezone)
            conversations = ConversationRepository(store, account.id)
            if conversation_id is None:
                conversation_id = (await conversations.create()).id
            return SessionSpec(account.id, account.name, conversation_id, account.timezone)

    @contextlib.asynccontextmanager
    async def session(
        self,
        user: str = "alice",
        conversation_id: str | None = None,
        *,
        timezone: str = "UTC",
        greet: bool = False,
    ) -> AsyncIterator[LiveSession]:
        spec = await self.open_conversation(user, conversation_id, timezone)
        capture = AudioCapture()
        extra = {"now": self.now} if self.now else {}
        session = await build_voice_session(
            self.settings,
            self.db,
            spec,
            transport_output=capture,
            tool_factory=self.tool_factory,
            session_hooks=self.session_hooks,
            **extra,
        )
        live = LiveSession(session, capture, self.db, self.fake_groq)
        started = asyncio.Event()

        @session.worker.event_handler("on_pipeline_started")
        async def _started(_worker, _frame):
            started.set()

        live.task = asyncio.create_task(session.run())
        try:
            await asyncio.wait_for(started.wait(), 15)
            if greet:
                await session.greet()
            else:  # no page to wait for: what would follow the greeting can start
                session.greeted.set()
            yield live
        finally:
            await live.stop()
