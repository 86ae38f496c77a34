"""The assistant's tools: notes, reminders and voice (emotion) switching."""

from collections.abc import Callable

from pipecat.adapters.llm.schemas.function_schema import FunctionSchema

from assistant.tools.base import ToolContext

ToolFactory = Callable[[ToolContext], list[FunctionSchema]]
