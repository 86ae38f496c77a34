"""Memory: every user and assistant message, tool call and tool result is saved as it happens.

Persistence is driven by pipecat's events rather than by reading `context.messages`, because the
context is rewritten in place (tool results start as "IN_PROGRESS" and are replaced later).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from loguru import logger
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
from assistant.store.repository import ConversationRepository, NotFoundError


@dataclass(frozen=True)
class MessageRecord:
    """One message as the store keeps it, in OpenAI roles."""

    role: str
    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    interrupted: bool = False


AppendMessage = Callable[[MessageRecord], Awaitable[None]]
# The conversation was deleted while the session ran, or the record itself is invalid.
PERMANENT_ERRORS = (NotFoundError, ValueError)
MessageListener = Callable[[MessageRecord], Awaitable[None]]

_SETTLED = {
    FunctionCallEventKind.COMPLETED,
    FunctionCallEventKind.FAILED,
    FunctionCallEventKind.TIMED_OUT,
    FunctionCallEventKind.CANCELLED,
}


def store_appender(db: Database, user_id: int, conversation_id: str) -> AppendMessage:
    """An `AppendMessage` that commits each record to one user's conversation."""

    async def append(record: MessageRecord) -> None:
        async with db.session() as session:
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
    """

    def __init__(self, append: AppendMessage, *, retry_delay: float = 0.2):
        self._append = append
        self._retry_delay = retry_delay
        self._queue: asyncio.Queue[MessageRecord] = asyncio.Queue()
        self._writer: asyncio.Task | None = None
        self._listeners: list[MessageListener] = []
        self._call_arguments: dict[str, tuple[str, Any]] = {}
        self.function_call_observer = FunctionCallObserver(
            include_arguments=True, include_results=True
        )
        self.function_call_observer.add_event_handler(
            "on_function_call_event", self._on_function_call_event
        )

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
        try:
            await asyncio.wait_for(self._queue.join(), drain_secs)
        except TimeoutError:
            logger.error(f"{self._queue.qsize()} conversation messages could not be saved")
        self._writer.cancel()
        await asyncio.gather(self._writer, return_exceptions=True)
        self._writer = None

    async def flush(self) -> None:
        await self._queue.join()

    def record(self, record: MessageRecord) -> None:
        self._queue.put_nowait(record)

    async def _on_user_message(self, _aggregator, message: UserTurnMessageAddedMessage) -> None:
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
            record = await self._queue.get()
            saved = await self._save(record)
            self._queue.task_done()
            if not saved:
                continue
            for listener in self._listeners:
                try:
                    await listener(record)
                except Exception as error:
                    logger.warning(f"message listener failed: {error}")

    async def _save(self, record: MessageRecord) -> bool:
        attempt = 0
        while True:
            try:
                await self._append(record)
                return True
            except PERMANENT_ERRORS as error:  # retrying can't help: say so, keep the rest going
                logger.error(f"a {record.role} message cannot be saved ({error}); skipping it")
                return False
            except Exception as error:  # a full disk or a locked file must not end the call
                attempt += 1
                logger.warning(f"saving a {record.role} message failed ({error}); retrying")
                await asyncio.sleep(min(self._retry_delay * attempt, 2.0))


def _tool_result_text(event: FunctionCallEvent) -> str:
    if event.kind == FunctionCallEventKind.COMPLETED:
        result = event.result
        return result if isinstance(result, str) else json.dumps(result, default=str)
    reason = event.error or event.kind.value.removeprefix("function_call_")
    return json.dumps({"ok": False, "error": reason})
