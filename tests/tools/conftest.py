"""Fixtures for tool tests: a session-like context over a real migrated database.

    async def test_my_tool(tool_context, call_tool):
        result = await call_tool(MY_TOOL, some_field="raw, as the LLM sends it")
        assert result["ok"], result
        assert tool_context.notifications == [{"type": "my-thing-changed"}]

``make_context(user=..., timezone=..., now=...)`` makes more (another user, another zone).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from pipecat.frames.frames import Frame

from assistant.pipeline.tts import voice_update_frame
from assistant.store.database import Database
from assistant.store.repository import ConversationRepository, UserRepository
from assistant.tools.base import Tool, ToolContext

# A fixed "now" for every tool test: Friday 14 March 2025, 15:30 UTC.
NOW = datetime(2025, 3, 14, 15, 30, tzinfo=UTC)


@dataclass
class RecordingContext(ToolContext):
    """A ToolContext that records what the tool told the page and pushed to the pipeline."""

    notifications: list[dict[str, Any]] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)

    def __post_init__(self) -> None:
        async def notify(message: dict[str, Any]) -> None:
            self.notifications.append(message)

        async def push_frame(frame: Frame) -> None:
            self.frames.append(frame)

        self.notify = notify
        self.push_frame = push_frame

    async def call(self, tool: Tool, raw: Any = None, /, **arguments: Any) -> dict[str, Any]:
        """Call as the LLM would: raw JSON-ish arguments (a dict, a JSON string, anything)."""
        return await tool.call(self, raw if raw is not None else arguments)


MakeContext = Callable[..., Awaitable[RecordingContext]]


@pytest.fixture
def make_context(db: Database) -> MakeContext:
    async def make(
        user: str = "alice", timezone: str = "UTC", now: datetime = NOW
    ) -> RecordingContext:
        async with db.transaction() as session:
            account = await UserRepository(session).get_or_create(user, timezone=timezone)
            conversation = await ConversationRepository(session, account.id).create()
        return RecordingContext(
            db=db,
            user_id=account.id,
            conversation_id=conversation.id,
            timezone=timezone,
            now=lambda: now,
            voice_frame=voice_update_frame,  # as the session builder gives it
        )

    return make


@pytest.fixture
async def tool_context(make_context: MakeContext) -> RecordingContext:
    """A fresh user 'alice' (UTC) in a new conversation, with the clock at ``NOW``."""
    return await make_context()


@pytest.fixture
def call_tool(tool_context: RecordingContext) -> Callable[..., Awaitable[dict[str, Any]]]:
    """``await call_tool(TOOL, field=value)`` (or ``call_tool(TOOL, raw)``) as alice."""
    return tool_context.call
