"""The assistant's tools: notes, reminders and voice (emotion) switching."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from assistant.tools.base import ToolContext

if TYPE_CHECKING:
    from pipecat.adapters.llm.schemas.function_schema import FunctionSchema

ToolFactory = Callable[[ToolContext], "list[FunctionSchema]"]
