"""Every tool the assistant has, and the `ToolFactory` the server gives each voice session."""

from __future__ import annotations

from pipecat.adapters.llm.schemas.function_schema import FunctionSchema

from assistant.tools.base import Tool, ToolContext, function_schemas
from assistant.tools.emotion import VOICE_TOOLS
from assistant.tools.notes import NOTE_TOOLS
from assistant.tools.reminders import REMINDER_TOOLS

ALL_TOOLS: list[Tool] = [*NOTE_TOOLS, *REMINDER_TOOLS, *VOICE_TOOLS]


def default_tools(context: ToolContext) -> list[FunctionSchema]:
    """All tools, bound to one session's user and conversation."""
    return function_schemas(ALL_TOOLS, context)
