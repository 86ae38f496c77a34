"""Every tool the assistant has, and the `ToolFactory` the server gives each voice session."""

from __future__ import annotations

from pipecat.adapters.llm.schemas.function_schema import FunctionSchema

from assistant.tools.base import Tool, ToolContext, function_schemas
from assistant.tools.emotion import VOICE_TOOLS
from assistant.tools.memory import MEMORY_TOOLS
from assistant.tools.notes import NOTE_TOOLS
from assistant.tools.reminders import REMINDER_TOOLS

# The tools by topic; the page shows each topic's calls with its own icon.
TOOLS_BY_TOPIC: dict[str, list[Tool]] = {
    "notes": NOTE_TOOLS,
    "reminders": REMINDER_TOOLS,
    "voice": VOICE_TOOLS,
    "memory": MEMORY_TOOLS,
}
ALL_TOOLS: list[Tool] = [tool for tools in TOOLS_BY_TOPIC.values() for tool in tools]


def default_tools(context: ToolContext) -> list[FunctionSchema]:
    """All tools, bound to one session's user and conversation."""
    return function_schemas(ALL_TOOLS, context)


def tool_labels() -> list[dict[str, str]]:
    """What the page calls each tool's calls (`GET /api/tools`); a tool without a label is left
    out, and the page names it after itself."""
    return [
        {"name": tool.name, "topic": topic, "done": tool.label.done, "doing": tool.label.doing}
        for topic, tools in TOOLS_BY_TOPIC.items()
        for tool in tools
        if tool.label is not None
    ]
