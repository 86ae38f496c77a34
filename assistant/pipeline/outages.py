"""When a service fails mid-call, the call goes on: what the user hears and the page is told.

A failed turn (LLM, STT) ends with a short apology; a rate limit that lasts is said once and
shown on the page. A Cartesia connection that drops mid-reply is followed, once reconnected, by
an apology and the words it cut off (`VoiceDropWatch`); a voice that stays out is shown on the
page until it is heard again (`VoiceAvailability`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from loguru import logger
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    ErrorFrame,
    InterruptionFrame,
    StopFrame,
    TTSSpeakFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.utils.errors import ErrorCategory

from assistant.pipeline.llm import AssistantLLM, is_timeout, is_tool_use_failed
from assistant.pipeline.rate_limits import LLMRateLimitedError
from assistant.pipeline.tts import AssistantTTS

APOLOGIES = {
    "tool_use_failed": "Sorry, I fumbled that one. Could you say it again?",
    "timeout": "Sorry, that took me too long. Could you ask me again?",
    ErrorCategory.RATE_LIMIT: "I'm a bit overloaded right now. Give me a moment and ask again.",
    "llm": "Sorry, I lost my train of thought there. Could you say that again?",
    "stt": "Sorry, I didn't catch that. Could you repeat it?",
    "tts": "Sorry, my voice cut out. Let me say that again.",
}


def llm_apology(error: ErrorFrame) -> str:
    exception = error.exception
    if exception is not None and is_tool_use_failed(exception):
        return APOLOGIES["tool_use_failed"]
    if exception is not None and is_timeout(exception):
        return APOLOGIES["timeout"]
    return APOLOGIES.get(error.category, APOLOGIES["llm"])


def apologize_on_errors(
    llm: AssistantLLM, stt: FrameProcessor, notify: Callable[[dict[str, Any]], Awaitable[None]]
) -> None:
    """Say a short apology when a turn fails, so the user is never left in silence.

    A rate limit that lasts is said plainly, once; the page is told at each turn it refuses,
    so it keeps showing why nothing is answered."""

    @llm.event_handler("on_error")
    async def _on_llm_error(processor, error: ErrorFrame):
        limited = error.exception
        if isinstance(limited, LLMRateLimitedError):
            await notify(
                {
                    "type": "llm-limit",
                    "message": limited.message,
                    "daily": limited.limit.daily,
                    "resets_in_secs": round(limited.wait_secs),
                }
            )
            if limited.first:  # a service notice, not part of the conversation
                await processor.push_frame(TTSSpeakFrame(limited.message, append_to_context=False))
            return
        await processor.push_frame(TTSSpeakFrame(llm_apology(error)))

    @stt.event_handler("on_error")
    async def _on_stt_error(processor, error: ErrorFrame):
        await processor.push_frame(TTSSpeakFrame(APOLOGIES["stt"]))


class VoiceAvailability:
    """Tells the page when the assistant's voice is lost and when it is heard again.

    Lost: a connect to Cartesia failed, or pipecat stopped giving the TTS work (after failed
    reconnects, or replies that came back silent). Replies are then shown, not said. Back: the
    TTS produced audio again (a connection alone may still give silence), from a connection
    opened since or one that still works: the rest of a reply that a dropped connection had
    sent, still played after the drop, is not the voice coming back. Only changes are sent:
    one message per outage, however many connects fail in it.
    """

    def __init__(self, tts: AssistantTTS, notify: Callable[[dict[str, Any]], Awaitable[None]]):
        self._tts = tts
        self._notify = notify
        self._available = True
        tts.add_event_handler("on_connection_error", self._on_connection_error)
        tts.add_event_handler("on_usable_changed", self._on_usable_changed)
        tts.add_event_handler("on_audio", self._on_audio)

    async def _on_connection_error(self, _tts, _error: str) -> None:
        await self._set(False)

    async def _on_usable_changed(self, _tts, usable: bool) -> None:
        if not usable:
            await self._set(False)

    async def _on_audio(self, _tts) -> None:
        await self._set(True)

    async def _set(self, available: bool) -> None:
        if available == self._available:
            return
        self._available = available
        if not available:
            self._tts.watch_for_audio()
        await self._notify({"type": "voice-available", "available": available})


class VoiceDropWatch(BaseObserver):
    """Says again, with an apology, what a dropped Cartesia connection never got to say.

    When the websocket drops mid-reply pipecat reconnects, but the audio context the old
    connection was speaking just ends: the rest of the reply is never heard, and no error is
    reported. A context that started (TTSStartedFrame) and has not stopped when the connection
    goes (outside of the session's own shutdown) is such a context; its text, as sent to
    Cartesia, is owed, and is spoken again once a connection is open again (not stored twice:
    the reply already is). Waiting for the connection means a Cartesia that refuses connects
    for a while is not asked again and again (each failed repeat would be owed in its turn);
    if it never comes back the words are on the page, and the next turn starts afresh.
    """

    def __init__(self, tts: FrameProcessor, speak: Callable[[str], Awaitable[None]]):
        # Each frame's first push only: by default an observer is queued every hop of every
        # frame (audio included), a queue put and a task wake-up each. What this needs is
        # first pushed by the TTS (started, stopped) or means the same wherever it starts.
        super().__init__(observe_every_push=False)
        self._tts = tts
        self._speak = speak
        self._texts: dict[str, list[str]] = {}  # context id -> text sent to Cartesia
        self._speaking: dict[str, None] = {}  # started, not stopped, in order
        self._owed: list[str] = []  # cut off by a drop, to say once connected again
        self._ending = False
        tts.add_event_handler("on_tts_request", self._on_tts_request)
        tts.add_event_handler("on_disconnected", self._on_disconnected)
        tts.add_event_handler("on_connected", self._on_connected)

    async def on_push_frame(self, data: FramePushed) -> None:
        frame = data.frame
        if isinstance(frame, EndFrame | StopFrame | CancelFrame):
            self._ending = True
        elif isinstance(frame, InterruptionFrame):  # the user cut in: nothing is owed
            self._speaking.clear()
            self._texts.clear()
            self._owed.clear()
        elif data.source is not self._tts:
            return
        elif isinstance(frame, TTSStartedFrame) and frame.context_id:
            self._speaking[frame.context_id] = None
        elif isinstance(frame, TTSStoppedFrame) and frame.context_id:
            self._speaking.pop(frame.context_id, None)
            self._texts.pop(frame.context_id, None)

    async def _on_tts_request(self, _tts, context_id: str, text: str) -> None:
        self._texts.setdefault(context_id, []).append(text)

    async def _on_disconnected(self, _tts) -> None:
        if not self._tts.is_usable:  # it was given no work: nothing was cut off
            self._speaking.clear()
            self._texts.clear()
        if self._ending or not self._speaking:
            return
        for context_id in self._speaking:
            # A repeat that was cut off in its turn is owed without its apology.
            text = " ".join(" ".join(self._texts.get(context_id, [])).split())
            self._owed.append(text.removeprefix(APOLOGIES["tts"]).strip())
        self._speaking.clear()
        self._texts.clear()

    async def _on_connected(self, _tts) -> None:
        owed = " ".join(text for text in self._owed if text)
        self._owed.clear()
        # Connected by a new reply after pipecat gave up (AssistantTTS): that reply is what
        # the user waits for, and the old words are on the page.
        if self._ending or not owed or not self._tts.is_usable:
            return
        logger.warning(f"the voice connection dropped mid-reply; saying again: {owed}")
        await self._speak(f"{APOLOGIES['tts']} {owed}")
