"""Memory: every user and assistant message, tool call and tool result is saved as it happens,
and so is the token usage of each language-model request.

Persistence is driven by pipecat's events rather than by reading `context.messages`, because the
context is rewritten in place (tool results start as "IN_PROGRESS" and are replaced later).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from loguru import logger
from pipecat.frames.frames import BotStartedSpeakingFrame, TTSAudioRawFrame
from pipecat.observers.base_observer import FramePushed
from pipecat.observers.function_call_observer import (
    FunctionCallEvent,
    FunctionCallEventKind,
    FunctionCallObserver,
)
from pipecat.processors.aggregators.llm_response_universal import (
    AssistantTurnStoppedMessage,
    LLMAssistantAggregator,
    LLMUserAggregator,
    UserTurnMessageAddedMessage,
)

from assistant.store.database import Database
from assistant.store.repository import ConversationRepository, NotFoundError, UsageRepository


@dataclass(frozen=True)
class MessageRecord:
    """One message as the store keeps it, in OpenAI roles."""

    role: str
    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    interrupted: bool = False


@dataclass(frozen=True)
class UsageRecord:
    """The tokens one language-model request took (its response's `usage`)."""

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int | None = None


Record = MessageRecord | UsageRecord
AppendMessage = Callable[[Record], Awaitable[None]]
# The longest a record waits for the bot to start speaking: the most a crash can lose.
MAX_HOLD_SECS = 0.5
# The conversation was deleted while the session ran, or the record itself is invalid.
PERMANENT_ERRORS = (NotFoundError, ValueError)
MessageListener = Callable[[Record], Awaitable[None]]

_SETTLED = {
    FunctionCallEventKind.COMPLETED,
    FunctionCallEventKind.FAILED,
    FunctionCallEventKind.TIMED_OUT,
    FunctionCallEventKind.CANCELLED,
}


def store_appender(db: Database, user_id: int, conversation_id: str) -> AppendMessage:
    """An `AppendMessage` that commits each record to one user's conversation (one unit of
    work per record)."""

    async def append(record: Record) -> None:
        async with db.transaction() as session:
            if isinstance(record, UsageRecord):
                await UsageRepository(session, user_id).add(
                    conversation_id,
                    record.prompt_tokens,
                    record.completion_tokens,
                    cached_tokens=record.cached_tokens,
                )
                return
            await ConversationRepository(session, user_id).append(
                conversation_id,
                role=record.role,
                content=record.content,
                tool_calls=record.tool_calls,
                tool_call_id=record.tool_call_id,
                interrupted=record.interrupted,
            )

    return append


class ConversationRecorder:
    """Turns pipecat's conversation events into ordered, durable message records.

    Event handlers only enqueue (pipecat runs each handler as its own task, so doing the write
    there could reorder messages); one writer task commits them in order. A failed write (a
    locked or full database) is retried rather than dropped, and never raises into the
    pipeline; only a record that can never be saved (its conversation was deleted) is skipped.

    Writes are held while a response is being produced, from the end of the user's turn until
    the bot's first audio: a write costs CPU on the event loop that is also running the LLM
    request and the TTS stream, so writing the user's message right away delays the answer.
    No record waits more than `max_hold_secs`; `flush` and `close` write at once.
    `clock` and `timeout` measure and bound the hold (tests pass a clock they move themselves).
    """

    def __init__(
        self,
        append: AppendMessage,
        *,
        retry_delay: float = 0.2,
        max_hold_secs: float = MAX_HOLD_SECS,
        clock: Callable[[], float] = time.monotonic,
        timeout: Callable[[float], contextlib.AbstractAsyncContextManager] = asyncio.timeout,
    ):
        self._append = append
        self._retry_delay = retry_delay
        self._max_hold_secs = max_hold_secs
        self._clock = clock
        self._timeout = timeout
        self._queue: asyncio.Queue[tuple[Record, float]] = asyncio.Queue()
        self._writer: asyncio.Task | None = None
        self._listeners: list[MessageListener] = []
        self._call_arguments: dict[str, tuple[str, Any]] = {}
        self._hold_until = 0.0  # on `clock`; no hold once it has passed
        self._released = asyncio.Event()  # wakes a held writer early
        # The builder registers this with the pipeline: function calls, and when the bot speaks.
        self.observer = _RecorderObserver(self)
        self.observer.add_event_handler("on_function_call_event", self._on_function_call_event)

    def add_listener(self, listener: MessageListener) -> None:
        """Called after each record is committed (the UI uses it for live updates)."""
        self._listeners.append(listener)

    def attach(self, user: LLMUserAggregator, assistant: LLMAssistantAggregator) -> None:
        user.add_event_handler("on_user_turn_message_added", self._on_user_message)
        assistant.add_event_handler("on_assistant_turn_stopped", self._on_assistant_message)

    def start(self) -> None:
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_forever(), name="conversation-writer")

    async def close(self, drain_secs: float = 5.0) -> None:
        """Wait for pending writes (bounded), then stop the writer."""
        if self._writer is None:
            return
        self.release()
        try:
            await asyncio.wait_for(self._queue.join(), drain_secs)
        except TimeoutError:
            logger.error(f"{self._queue.qsize()} conversation messages could not be saved")
        self._writer.cancel()
        await asyncio.gather(self._writer, return_exceptions=True)
        self._writer = None

    async def flush(self) -> None:
        self.release()
        await self._queue.join()

    def record(self, record: Record) -> None:
        self._queue.put_nowait((record, self._clock()))

    def hold(self) -> None:
        """A response is being produced: keep writes off the event loop until the bot speaks."""
        self._hold_until = self._clock() + self._max_hold_secs
        self._released.clear()

    def release(self) -> None:
        """The bot speaks (or we are flushing): write what is held, and everything after it."""
        self._hold_until = 0.0
        self._released.set()

    async def _on_user_message(self, _aggregator, message: UserTurnMessageAddedMessage) -> None:
        self.hold()  # the context frame that starts the LLM was pushed just before this event
        self.record(MessageRecord(role="user", content=message.content))

    async def _on_assistant_message(self, _aggregator, message: AssistantTurnStoppedMessage):
        if message.content.strip():
            self.record(
                MessageRecord(
                    role="assistant", content=message.content, interrupted=message.interrupted
                )
            )

    async def _on_function_call_event(self, _observer, event: FunctionCallEvent) -> None:
        if event.kind == FunctionCallEventKind.IN_PROGRESS:
            self._call_arguments[event.tool_call_id] = (event.function_name, event.arguments)
            self.record(
                MessageRecord(
                    role="assistant",
                    tool_calls=[
                        {
                            "id": event.tool_call_id,
                            "type": "function",
                            "function": {
                                "name": event.function_name,
                                "arguments": json.dumps(event.arguments or {}),
                            },
                        }
                    ],
                )
            )
        elif event.kind in _SETTLED and self._call_arguments.pop(event.tool_call_id, None):
            self.record(
                MessageRecord(
                    role="tool",
                    tool_call_id=event.tool_call_id,
                    content=_tool_result_text(event),
                )
            )

    async def _write_forever(self) -> None:
        while True:
            record, recorded_at = await self._queue.get()
            await self._wait_while_held(recorded_at)
            saved = await self._save(record)
            self._queue.task_done()
            if not saved:
                continue
            for listener in self._listeners:
                try:
                    await listener(record)
                except Exception as error:
                    logger.warning(f"message listener failed: {error}")

    async def _wait_while_held(self, recorded_at: float) -> None:
        # The end of the hold, but never later than max_hold_secs after this record came in.
        delay = min(self._hold_until, recorded_at + self._max_hold_secs) - self._clock()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                async with self._timeout(delay):
                    await self._released.wait()

    async def _save(self, record: Record) -> bool:
        attempt = 0
        while True:
            try:
                await self._append(record)
                return True
            except PERMANENT_ERRORS as error:  # retrying can't help: say so, keep the rest going
                logger.error(f"{_what(record)} cannot be saved ({error}); skipping it")
                return False
            except Exception as error:  # a full disk or a locked file must not end the call
                attempt += 1
                logger.warning(f"saving {_what(record)} failed ({error}); retrying")
                await asyncio.sleep(min(self._retry_delay * attempt, 2.0))


class _RecorderObserver(FunctionCallObserver):
    """Reports function calls, and releases the recorder's held writes when the bot speaks.

    The TTS's first audio frame is the earliest sign, and the only one without an output
    transport (headless tests, benchmarks); a transport's `BotStartedSpeakingFrame` follows it.
    Observers run from their own queue after the push, so this never delays the audio.
    """

    def __init__(self, recorder: ConversationRecorder):
        super().__init__(include_arguments=True, include_results=True)
        self._recorder = recorder

    async def on_push_frame(self, data: FramePushed) -> None:
        if isinstance(data.frame, TTSAudioRawFrame | BotStartedSpeakingFrame):
            self._recorder.release()
        else:
            await super().on_push_frame(data)


def _what(record: Record) -> str:
    return f"a {record.role} message" if isinstance(record, MessageRecord) else "a usage record"


def _tool_result_text(event: FunctionCallEvent) -> str:
    if event.kind == FunctionCallEventKind.COMPLETED:
        result = event.result
        return result if isinstance(result, str) else json.dumps(result, default=str)
    reason = event.error or event.kind.value.removeprefix("function_call_")
    return json.dumps({"ok": False, "error": reason})
