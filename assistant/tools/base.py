"""The adapter between plain async tool functions and pipecat's function calling.

A tool is a plain async function over the store; `Tool` pairs it with a pydantic model of its
arguments. The session (user, conversation, time zone) is injected from `ToolContext`, never
taken from the LLM's arguments, and every failure becomes a structured error result the LLM
can read and recover from: nothing raises into the pipeline.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from loguru import logger
from pydantic import BaseModel, ValidationError

from assistant.store.database import Database
from assistant.voice import VoiceState

if TYPE_CHECKING:
    # The adapter's half only: importing the tools loads no pipecat (the session runtime,
    # which uses them, is imported before the voice stack's warm-up).
    from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
    from pipecat.frames.frames import Frame
    from pipecat.services.llm_service import FunctionCallParams

Args = TypeVar("Args", bound=BaseModel)
Notify = Callable[[dict[str, Any]], Awaitable[None]]
PushFrame = Callable[["Frame"], Awaitable[None]]


async def _ignore(_message: dict[str, Any]) -> None:
    return None


class Notifies(Protocol):
    """Anything that can tell the page something (a ToolContext, a VoiceSession)."""

    notify: Notify


@dataclass
class ToolContext:
    """What a tool knows about the live session. Never filled from LLM arguments."""

    db: Database
    user_id: int
    conversation_id: str
    timezone: str = "UTC"
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # Tells the page something changed (`{"type": "notes-changed"}`), over RTVI server-message.
    notify: Notify = _ignore
    # Set per call by the adapter: pushes a frame downstream from the LLM (e.g. to the TTS).
    push_frame: PushFrame | None = None
    # Made by the pipeline: the frame that makes the live TTS sound like this.
    voice_frame: Callable[[VoiceState], Frame] | None = None


class ToolError(Exception):
    """A failure the user can fix (unknown id, time in the past); its message goes to the LLM."""


def ok(**data: Any) -> dict[str, Any]:
    return {"ok": True, **data}


def error(message: str, **data: Any) -> dict[str, Any]:
    return {"ok": False, "error": message, **data}


@dataclass(frozen=True)
class ToolLabel:
    """What the page calls a call of the tool: `done` once it ran ("took a note"), `doing`
    while it runs ("taking a note")."""

    done: str
    doing: str


@dataclass(frozen=True)
class Tool(Generic[Args]):
    name: str
    description: str
    arguments: type[Args]
    run: Callable[[ToolContext, Args], Awaitable[dict[str, Any]]]
    label: ToolLabel | None = None

    def schema(self, context: ToolContext) -> FunctionSchema:
        from pipecat.adapters.llm.schemas.function_schema import FunctionSchema

        json_schema = model_facing(self.arguments.model_json_schema())
        return FunctionSchema(
            name=self.name,
            description=self.description,
            properties=json_schema.get("properties", {}),
            required=json_schema.get("required", []),
            handler=self._handler(context),
        )

    async def call(self, context: ToolContext, raw_arguments: Any) -> dict[str, Any]:
        """Validate and run; always returns a result dict, never raises."""
        if isinstance(raw_arguments, str):  # some models send the JSON still encoded
            try:
                raw_arguments = json.loads(raw_arguments or "{}")
            except json.JSONDecodeError:
                return error("arguments must be a JSON object")
        if raw_arguments is None:
            raw_arguments = {}
        if not isinstance(raw_arguments, dict):
            return error("arguments must be a JSON object")
        try:
            arguments = self.arguments.model_validate(raw_arguments)
        except ValidationError as problem:
            return error("invalid arguments", details=_describe(problem))
        try:
            return await self.run(context, arguments)
        except ToolError as problem:
            return error(str(problem))
        except Exception:
            logger.exception(f"tool {self.name} failed")
            return error(f"{self.name} failed unexpectedly; nothing was changed")

    def _handler(self, context: ToolContext):
        async def handle(params: FunctionCallParams) -> None:
            call_context = _with_push(context, params)
            await params.result_callback(await self.call(call_context, params.arguments))

        return handle


def _with_push(context: ToolContext, params: FunctionCallParams) -> ToolContext:
    async def push_frame(frame: Frame) -> None:
        await params.llm.push_frame(frame)

    return ToolContext(
        db=context.db,
        user_id=context.user_id,
        conversation_id=context.conversation_id,
        timezone=context.timezone,
        now=context.now,
        notify=context.notify,
        push_frame=push_frame,
        voice_frame=context.voice_frame,
    )


def reject_bool(value: Any) -> Any:
    # pydantic's lax mode reads true as 1: a boolean id is a mistake, not note 1.
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


def storable_text(value: str) -> str:
    # JSON can carry lone surrogates that SQLite can't store; refuse them up front.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    # PostgreSQL's text cannot hold NUL; refused on SQLite too, so both stores behave alike.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    # pydantic's str_strip_whitespace keeps characters Python's str.strip() removes (the
    # separators U+001C-U+001F): blank by the store's rule must be refused here, as an error
    # the model can act on, not fail later in the store.
    if not value.strip():
        raise ValueError("must not be blank")
    return value


async def notify_safely(target: Notifies, message: dict[str, Any]) -> None:
    """Tell the page; a closed page must not turn a saved change into an error result."""
    try:
        await target.notify(message)
    except Exception as problem:
        logger.warning(f"notify {message.get('type')} failed: {problem}")


def function_schemas(tools: Sequence[Tool], context: ToolContext) -> list[FunctionSchema]:
    return [tool.schema(context) for tool in tools]


def _describe(problem: ValidationError) -> list[str]:
    return [
        f"{'.'.join(str(p) for p in item['loc']) or 'arguments'}: {item['msg']}"
        for item in problem.errors()
    ]


# Checked by the argument models when a call comes in; the model needs none of them to choose a
# tool or fill it in, and every request carries every schema (speed and volume ranges are in
# their descriptions).
VALIDATION_ONLY = frozenset(
    {
        "default",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
    }
)


def model_facing(schema: dict[str, Any]) -> dict[str, Any]:
    """What the model is shown of an argument model's JSON Schema: plain JSON Schema (no
    pydantic titles, $defs inlined) without the keywords only validation needs."""
    definitions = schema.get("$defs", {})

    def walk(node: Any, names: bool = False) -> Any:
        # `names`: node maps property names to schemas, so its keys are not keywords.
        if isinstance(node, dict):
            if "$ref" in node and not names:
                return walk(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {
                key: walk(value, names=not names and key == "properties")
                for key, value in node.items()
                if names
                or (
                    key != "$defs"
                    and key not in VALIDATION_ONLY
                    and not (key == "title" and isinstance(value, str))
                )
            }
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return walk(schema)
