"""Where each turn ends and what it took: typed turns' replies, and per-turn timings.

`TurnWatch` has two taps in the pipeline. `after_llm`, right after the LLM, sees the LLM's
frames in the order it pushes them: the reply's text as it streams (for a typed turn) and
whether a response called tools (then the turn goes on with their results). `at_end`, right
before the assistant aggregator, sees each response's end once its words have gone out (after
the TTS and the output transport in a call) and pipecat's TTFB metrics frames. A response that
called no tools ends the turn, once the assistant aggregator has had it (its
`on_assistant_turn_stopped`, which the recorder stores the reply from, comes first): its
timings are logged at INFO and sent to the page, and a typed turn's reply is complete.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from loguru import logger
from pipecat.frames.frames import (
    ErrorFrame,
    Frame,
    FunctionCallsStartedFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    MetricsFrame,
)
from pipecat.metrics.metrics import TTFBMetricsData
from pipecat.processors.aggregators.llm_response_universal import LLMAssistantAggregator
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from assistant.pipeline.llm import is_timeout
from assistant.pipeline.rate_limits import LLMRateLimitedError

# The page's and the log's names for what each service's TTFB measures in a turn.
TIMING_NAMES = {"stt": "speech to text", "llm": "first token", "tts": "first audio"}


@dataclass(frozen=True)
class TurnFailure:
    """Why a typed turn got no reply: what the user is told, and the HTTP status for it."""

    message: str
    status: int


@dataclass
class TypedReply:
    """A typed turn on its way: the reply's text as the LLM produces it, then the outcome."""

    text: str
    # ("text", words) as the LLM produces them, ("notice", message) as a tool sends one.
    events: asyncio.Queue[tuple[str, Any]] = field(default_factory=asyncio.Queue)
    parts: list[str] = field(default_factory=list)
    notices: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    failure: TurnFailure | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def reply(self) -> str:
        return "".join(self.parts).strip()


class TurnWatch:
    """Tells when a turn's reply is complete and what it took (module docstring)."""

    def __init__(
        self,
        conversation_id: str,
        services: dict[str, FrameProcessor | None],
        assistant: LLMAssistantAggregator,
        notify: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        """``services``: the session's "stt", "llm" and "tts" processors (None when absent).
        Made after the recorder is attached to ``assistant``, so that its handler of a turn's
        end runs before this one's."""
        self._conversation_id = conversation_id
        self._roles = {p.name: role for role, p in services.items() if p is not None}
        self._notify = notify
        self._timings: dict[str, float] = {}
        self._response_called_tools = False
        # By response end frame: whether that response called tools (see `after_llm`).
        self._called_tools: dict[int, bool] = {}
        self._ending = False  # the response the aggregator ends next ends the turn
        self._typed: TypedReply | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self.after_llm = _Tap("TurnWatch.after_llm", self._after_llm)
        self.at_end = _Tap("TurnWatch.at_end", self._at_end)
        llm = services.get("llm")
        if llm is not None:
            llm.add_event_handler("on_error", self._on_llm_error)
        assistant.add_event_handler("on_assistant_turn_stopped", self._on_turn_stopped)

    async def claim(self) -> None:
        """Wait until no typed turn is under way, and take the next one (`begin`)."""
        while not self._idle.is_set():
            await self._idle.wait()
        self._idle.clear()

    @property
    def idle_now(self) -> bool:
        """No typed turn is under way."""
        return self._idle.is_set()

    async def idle(self) -> None:
        """Wait until no typed turn is under way."""
        await self._idle.wait()

    def begin(self, text: str) -> TypedReply:
        """The typed turn claimed goes in now: its reply is the next one to complete."""
        self._typed = TypedReply(text)
        self._timings.pop("stt", None)  # typed: no speech was transcribed for it
        return self._typed

    def abandon_typed(self) -> None:
        """The session ends before the typed turn's reply, or the turn could not be sent."""
        typed, self._typed = self._typed, None
        if typed is not None and not typed.done.is_set():
            typed.failure = typed.failure or TurnFailure("The conversation ended first.", 503)
            typed.done.set()
        self._idle.set()

    def notice(self, message: dict[str, Any]) -> bool:
        """A message for the page during a typed turn without a call (a tool's "notes-changed",
        say): it goes with the reply. False if no typed turn is under way."""
        if self._typed is None or message.get("type") == "session-moved":
            return False
        self._typed.notices.append(message)
        self._typed.events.put_nowait(("notice", message))
        return True

    # ---- the taps

    def _after_llm(self, frame: Frame) -> None:
        if isinstance(frame, LLMFullResponseStartFrame):
            self._response_called_tools = False
        elif isinstance(frame, FunctionCallsStartedFrame):
            self._response_called_tools = True
        elif isinstance(frame, LLMFullResponseEndFrame):
            self._called_tools[frame.id] = self._response_called_tools
            while len(self._called_tools) > 64:  # ends an interruption dropped on the way
                del self._called_tools[next(iter(self._called_tools))]
        elif isinstance(frame, LLMTextFrame) and self._typed is not None:
            self._typed.parts.append(frame.text)
            self._typed.events.put_nowait(("text", frame.text))

    def _at_end(self, frame: Frame) -> None:
        if isinstance(frame, MetricsFrame):
            # A service's measure comes alone in its frame (pipecat's stop_ttfb_metrics); the
            # worker's zeros at the start come in one frame with the processing times.
            if len(frame.data) == 1 and isinstance(frame.data[0], TTFBMetricsData):
                data = frame.data[0]
                if data.processor in self._roles:
                    self._measured(self._roles[data.processor], data.value)
        elif isinstance(frame, LLMFullResponseEndFrame):
            self._ending = not self._called_tools.pop(frame.id, False)

    def _measured(self, role: str, secs: float) -> None:
        if role == "stt":
            self._timings["stt"] = secs  # the latest transcription is this turn's
        elif role == "llm":
            self._timings.setdefault("llm", secs)  # the first request of the turn
        elif "llm" in self._timings:
            # The first audio of the reply; a greeting's or an apology's comes with no LLM.
            self._timings.setdefault("tts", secs)

    async def _on_turn_stopped(self, _aggregator, _message) -> None:
        # pipecat runs each handler as a task, in the order the events fired: the LLM's
        # on_error for this response (fired before its end frame was pushed) came first.
        if self._ending:
            self._ending = False
            self._turn_complete()

    async def _on_llm_error(self, _llm, error: ErrorFrame) -> None:
        if self._typed is not None and self._typed.failure is None:
            self._typed.failure = failure_of(error)

    # ---- the end of a turn

    def _turn_complete(self) -> None:
        timings, self._timings = self._timings, {}
        if "llm" in timings:
            logger.info(f"turn timings in {self._conversation_id}: {timings_line(timings)}")
            message = {
                "type": "turn-timings",
                **{f"{k}_secs": round(v, 3) for k, v in timings.items()},
            }
            asyncio.get_running_loop().create_task(self._send(message))
        typed, self._typed = self._typed, None
        if typed is not None:
            typed.timings = timings
            typed.done.set()
            self._idle.set()

    async def _send(self, message: dict[str, Any]) -> None:
        try:
            await self._notify(message)
        except Exception as error:  # the page missing a timing must not end anything
            logger.warning(f"could not send turn timings: {error}")


def timings_line(timings: dict[str, float]) -> str:
    return ", ".join(
        f"{TIMING_NAMES[role]} {timings[role]:.3f} s" for role in TIMING_NAMES if role in timings
    )


def failure_of(error: ErrorFrame) -> TurnFailure:
    exception = error.exception
    if isinstance(exception, LLMRateLimitedError):
        return TurnFailure(exception.message, 429)
    if exception is not None and is_timeout(exception):
        return TurnFailure("The language service took too long to answer. Try again.", 504)
    return TurnFailure(f"The language service failed: {error.error}", 502)


class _Tap(FrameProcessor):
    """Passes every frame on, showing each downstream one to `see` first. Direct mode: no queue
    or task of its own, it runs inside the previous processor's push, in its order."""

    def __init__(self, name: str, see: Callable[[Frame], None]) -> None:
        super().__init__(name=name, enable_direct_mode=True)
        self._see = see

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction is FrameDirection.DOWNSTREAM:
            self._see(frame)
        await self.push_frame(frame, direction)
