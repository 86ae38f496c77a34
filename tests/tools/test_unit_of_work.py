"""A tool call is one unit of work: repositories don't commit, so a call that fails halfway
leaves nothing of what it wrote before the failure."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from assistant.store.repository import NoteRepository
from assistant.tools.base import Tool, ToolContext, ok


class NoArgs(BaseModel):
    pass


async def two_writes_the_second_fails(context: ToolContext, _args: NoArgs) -> dict[str, Any]:
    async with context.db.transaction() as session:
        notes = NoteRepository(session, context.user_id)
        await notes.add("written first")
        await notes.add("   ")  # the store refuses a blank note: ValueError
    return ok()


HALF_WRITER = Tool(
    name="half_writer", description="test", arguments=NoArgs, run=two_writes_the_second_fails
)


async def test_a_failing_tool_call_leaves_nothing_half_written(tool_context):
    result = await tool_context.call(HALF_WRITER)

    assert result["ok"] is False and "nothing was changed" in result["error"]
    async with tool_context.db.session() as session:
        assert await NoteRepository(session, tool_context.user_id).recent() == []
