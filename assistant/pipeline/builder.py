"""Builds one voice session: transport → STT → user context → LLM + tools → TTS → assistant context.

The same builder serves the WebRTC server and the headless tests; only the transport differs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from loguru import logger
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.frames.frames import (
    AggregatedTextFrame,
    CancelFrame,
    EndFrame,
    ErrorFrame,
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    StopFrame,
    TTSSpeakFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from pipecat.metrics.metrics import LLMTokenUsage
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.processors.frameworks.rtvi.frames import RTVIServerMessageFrame
from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies
from pipecat.utils.errors import ErrorCategory
from pipecat.utils.types import NOT_GIVEN
from pipecat.workers.runner import WorkerRunner

from assistant.config import Settings, TurnDetection
from assistant.pipeline.groq_http import preconnect
from assistant.pipeline.llm import (
    AssistantLLM,
    create_llm,
    is_timeout,
    is_tool_use_failed,
)
from assistant.pipeline.memory import ConversationRecorder, UsageRecord, store_appender
from assistant.pipeline.prompt import clock_line, system_instruction
from assistant.pipeline.rate_limits import LLMRateLimitedError
from assistant.pipeline.stt import AssistantSTT, create_stt
from assistant.pipeline.summarizer import ContextSummarizer
from assistant.pipeline.tts import AssistantTTS, create_tts, tls_context, voice_update_frame
from assistant.pipeline.worker import AssistantWorker
from assistant.store.context import load_context
from assistant.store.database import Database
from assistant.store.repository import ConversationRepository
from assistant.tools import ToolFactory
from assistant.tools.base import ToolContext
from assistant.voice import VoiceState


@dataclass(frozen=True)
class SessionSpec:
    """Who is talking and in which conversation; comes from the session, never from the LLM."""

    user_id: int
    user_name: str
    conversation_id: str
    timezone: str = "UTC"


LiveTask = Callable[["VoiceSession"], Awaitable[None]]
SessionHook = Callable[["VoiceSession"], None]

# How long a session handing its conversation over may take to end on its own.
HAND_OVER_SECS = 3.0


@dataclass
class VoiceSession:
    """One running conversation: the pipeline plus what it does on its own (greeting, alerts)."""

    spec: SessionSpec
    worker: PipelineWorker
    context: LLMContext
    llm: AssistantLLM
    recorder: ConversationRecorder
    voice: VoiceState
    resumed: bool
    now: Callable[[], datetime]
    db: Database
    # Tells when what `say` queued has reached the page.
    heard: HeardWatch
    processors: dict[str, FrameProcessor] = field(default_factory=dict)
    # Coroutines that run for the session's lifetime (the reminder watcher, for one).
    live_tasks: list[LiveTask] = field(default_factory=list)
    # Lines the greeting adds (e.g. reminders that came due while the user was away).
    greeting_extras: list[Callable[[VoiceSession], Awaitable[str | None]]] = field(
        default_factory=list
    )
    # Set once the greeting is queued: the page is listening, and what is said next follows it.
    greeted: asyncio.Event = field(default_factory=asyncio.Event)
    # Whether the greeting (its extras' lines with it) reached the page; False if the session
    # ended first, or never greeted.
    greeting_heard: asyncio.Future[bool] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    # Run after a session that ended by itself (the user left), everything said being stored.
    closing_tasks: list[LiveTask] = field(default_factory=list)
    # Set once the pipeline has ended and everything said in it is stored.
    stored: asyncio.Event = field(default_factory=asyncio.Event)
    # Keeps the context within the token budget (see ContextSummarizer).
    summarizer: ContextSummarizer | None = None

    async def say(self, text: str) -> asyncio.Future[bool]:
        """Speak unprompted; the words go into the context and so into the store.

        The future tells whether they reached the page: True once they did (`HeardWatch`),
        False if the session ended first."""
        heard = self.heard.expect(text)
        await self.worker.queue_frame(TTSSpeakFrame(text, append_to_context=True))
        return heard

    async def notify(self, message: dict[str, Any]) -> None:
        """Send the page an app message (RTVI server-message)."""
        await self.worker.queue_frame(RTVIServerMessageFrame(data=message))

    async def greet(self) -> None:
        await self.notify(
            {
                "type": "session",
                "conversation_id": self.spec.conversation_id,
                "resumed": self.resumed,
                "voice": asdict(self.voice),
            }
        )
        lines = [greeting(self.spec.user_name, resumed=self.resumed)]
        for extra in self.greeting_extras:
            try:
                line = await extra(self)
            except Exception:
                logger.exception("greeting extra failed")
                continue
            if line:
                lines.append(line)
        heard = await self.say(" ".join(lines))
        heard.add_done_callback(lambda said: _settle(self.greeting_heard, said.result()))
        self.greeted.set()

    async def hand_over(self, timeout_secs: float = HAND_OVER_SECS) -> None:
        """End this session because its conversation goes on elsewhere (another tab, another
        device), and return once everything said in it is stored, for the next one to load.

        The page is told first. Then the session is interrupted, as when the user cuts in (a
        reply being generated or spoken stops), and ended; both follow the message down the
        pipeline. Past the bound the next session goes ahead anyway, from what is stored."""
        await self.notify({"type": "session-moved", "conversation_id": self.spec.conversation_id})
        await self.worker.queue_frames([InterruptionFrame(), EndFrame()])
        try:
            await asyncio.wait_for(self.stored.wait(), timeout_secs)
        except TimeoutError:
            logger.warning(f"conversation {self.spec.conversation_id} did not end in time")

    async def run(self, runner: WorkerRunner | None = None) -> None:
        """Run until the pipeline ends; everything said is saved before this returns."""
        if runner is None:
            runner = WorkerRunner(handle_sigint=False)
            await runner.add_workers(self.worker)
        self.recorder.start()
        background = [asyncio.create_task(task(self)) for task in self.live_tasks]
        try:
            await runner.run()
        finally:
            # The pipeline is over: what has not reached the page by now never will.
            self.heard.end()
            _settle(self.greeting_heard, False)
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await self.recorder.close()
            self.stored.set()
        for closing in self.closing_tasks:  # not when cancelled (the server is stopping)
            try:
                await closing(self)
            except Exception:
                logger.exception("a session's closing task failed")


def greeting(user_name: str, *, resumed: bool) -> str:
    if resumed:
        return f"Welcome back, {user_name}. Let's pick up where we left off."
    return f"Hi {user_name}! What can I do for you?"


async def build_voice_session(
    settings: Settings,
    db: Database,
    spec: SessionSpec,
    *,
    transport_input: FrameProcessor | None = None,
    transport_output: FrameProcessor | None = None,
    tool_factory: ToolFactory | None = None,
    session_hooks: Sequence[SessionHook] = (),
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    pipeline_params: PipelineParams | None = None,
    idle_timeout_secs: float | None = None,
) -> VoiceSession:
    async with db.session() as session:
        conversation = await ConversationRepository(session, spec.user_id).get(spec.conversation_id)
        if conversation is None:
            raise LookupError(f"conversation {spec.conversation_id} not found")
        history = await load_context(
            session, spec.user_id, spec.conversation_id, settings.context_token_budget
        )
    voice = VoiceState(conversation.emotion, conversation.speed, conversation.volume)
    resumed = bool(history)

    # The same for the whole session (a prefix providers can cache); the time goes per turn.
    instruction = system_instruction(
        user_name=spec.user_name, timezone=spec.timezone, resumed=resumed
    )
    # 100-300 ms of blocking work: two ONNX model loads (Silero VAD, smart-turn) and the STT and
    # LLM clients' TLS contexts (certificate loading), and on the first session the one every
    # Cartesia connection shares. On the event loop it would stall the audio of every live
    # session each time someone connects; onnxruntime and OpenSSL release the GIL while they
    # work, so in a worker thread it doesn't. Constructing these off the loop is safe: none of
    # them touches the loop until the pipeline starts (asyncio primitives bind lazily).
    stt, llm, user_params = await asyncio.to_thread(
        _blocking_parts, settings, instruction, lambda: clock_line(spec.timezone, now())
    )
    tts = create_tts(settings, voice)
    session_ref: list[VoiceSession] = []

    async def notify(message: dict[str, Any]) -> None:
        if session_ref:
            await session_ref[0].notify(message)

    tools = (
        tool_factory(
            ToolContext(
                db=db,
                user_id=spec.user_id,
                conversation_id=spec.conversation_id,
                timezone=spec.timezone,
                now=now,
                notify=notify,
                voice_frame=voice_update_frame,
            )
        )
        if tool_factory
        else []
    )
    context = LLMContext(messages=history, tools=tools or NOT_GIVEN)
    aggregators = LLMContextAggregatorPair(context, user_params=user_params)

    recorder = ConversationRecorder(store_appender(db, spec.user_id, spec.conversation_id))
    recorder.attach(aggregators.user(), aggregators.assistant())
    _record_usage(llm, recorder, spec.conversation_id)
    _apologize_on_errors(llm, stt, notify)
    # The repeat is not stored: the reply it repeats already is.
    voice_drops = VoiceDropWatch(
        tts,
        speak=lambda text: session_ref[0].worker.queue_frame(
            TTSSpeakFrame(text, append_to_context=False)
        ),
    )

    VoiceAvailability(tts, notify)
    heard = HeardWatch()

    processors = [
        p
        for p in (
            transport_input,
            stt,
            aggregators.user(),
            MicAudioStop(),
            llm,
            tts,
            heard.named,
            transport_output,
            heard.out,
            aggregators.assistant(),
        )
        if p is not None
    ]
    worker = AssistantWorker(
        Pipeline(processors),
        params=pipeline_params or PipelineParams(enable_metrics=True),
        observers=[recorder.observer, voice_drops],
        # pipecat's turn-tracking observer is only read by tracing and audio recording, which
        # we don't use; each observer costs a queue put and a task wake-up per pushed frame.
        enable_turn_tracking=False,
        idle_timeout_secs=idle_timeout_secs,
        conversation_id=spec.conversation_id,
    )
    session = VoiceSession(
        spec=spec,
        worker=worker,
        context=context,
        llm=llm,
        recorder=recorder,
        voice=voice,
        resumed=resumed,
        now=now,
        db=db,
        heard=heard,
        processors={
            "stt": stt,
            "user": aggregators.user(),
            "llm": llm,
            "tts": tts,
            "assistant": aggregators.assistant(),
        },
    )
    # The user's first turn then finds both Groq connections open (see groq_http).
    session.live_tasks.append(lambda live: preconnect(live.llm.client, stt.client))
    # Older turns are folded into the stored summary in the background as the context
    # outgrows the budget, and once more when the session ends, for the next resume.
    summarizer = session.summarizer = ContextSummarizer(
        llm, context, settings, db, spec.user_id, spec.conversation_id
    )
    aggregators.assistant().add_event_handler(
        "on_assistant_turn_stopped", summarizer.on_turn_stopped
    )
    session.live_tasks.append(lambda _live: summarizer.run())
    session.closing_tasks.append(lambda _live: summarizer.close())
    session_ref.append(session)
    for hook in session_hooks:  # e.g. reminder delivery adds its live task and greeting line
        hook(session)
    return session


def _blocking_parts(
    settings: Settings, instruction: str, clock: Callable[[], str]
) -> tuple[AssistantSTT, AssistantLLM, LLMUserAggregatorParams]:
    """What building a session does that blocks (model loads, TLS contexts): run in a thread."""
    stt = create_stt(settings)
    tls_context()
    return stt, create_llm(settings, instruction, clock), user_turn_params(settings)


def user_turn_params(settings: Settings) -> LLMUserAggregatorParams:
    """The user aggregator's VAD and turn-end strategy from settings (bench's bare pipeline too)."""
    vad = SileroVADAnalyzer(
        params=VADParams(
            confidence=settings.vad_confidence,
            start_secs=settings.vad_start_secs,
            stop_secs=settings.vad_stop_secs,
            min_volume=settings.vad_min_volume,
        )
    )
    if settings.turn_detection == TurnDetection.SILENCE:
        strategies = UserTurnStrategies(
            stop=[SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=settings.turn_silence_secs)]
        )
    else:
        strategies = UserTurnStrategies()  # VAD start, smart-turn v3 (bundled ONNX) stop
    return LLMUserAggregatorParams(vad_analyzer=vad, user_turn_strategies=strategies)


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


def _record_usage(llm: AssistantLLM, recorder: ConversationRecorder, conversation_id: str) -> None:
    """Each response's token usage: logged, and stored by the session's ordered writer."""

    @llm.event_handler("on_llm_usage")
    async def _on_usage(_llm, tokens: LLMTokenUsage):
        cached = tokens.cache_read_input_tokens
        logger.info(
            f"LLM usage in {conversation_id}: {tokens.prompt_tokens} prompt tokens"
            f"{f' ({cached} cached)' if cached else ''}, "
            f"{tokens.completion_tokens} completion tokens"
        )
        recorder.record(UsageRecord(tokens.prompt_tokens, tokens.completion_tokens, cached))


def _apologize_on_errors(
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


class MicAudioStop(FrameProcessor):
    """Ends the microphone's audio after the user aggregator (VAD, turn detection), its last
    consumer. pipecat passes every frame on, so each 20 ms of input audio would otherwise hop
    through the LLM, the TTS, the output transport and the assistant aggregator: a queue and a
    task wake-up each, plus the RTVI observer's for every hop. Direct mode: no queue or task of
    its own, it runs inside the aggregator's push."""

    def __init__(self) -> None:
        super().__init__(name="MicAudioStop", enable_direct_mode=True)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if not isinstance(frame, InputAudioRawFrame):
            await self.push_frame(frame, direction)


def _settle(future: asyncio.Future[bool], result: bool) -> None:
    if not future.done():
        future.set_result(result)


class _Tap(FrameProcessor):
    """Passes every frame on, showing each downstream one to `see` first. Direct mode, as
    MicAudioStop: no queue or task of its own, it runs inside the previous processor's push."""

    def __init__(self, name: str, see: Callable[[Frame], None]) -> None:
        super().__init__(name=name, enable_direct_mode=True)
        self._see = see

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction is FrameDirection.DOWNSTREAM:
            self._see(frame)
        await self.push_frame(frame, direction)


@dataclass
class _Speaking:
    heard: asyncio.Future[bool]
    words_out: bool = False  # some of its words (TTSTextFrame) left the output transport
    stopped_out: bool = False  # its TTSStoppedFrame did, after all of its audio


class HeardWatch:
    """Tells when what the session said unprompted (`VoiceSession.say`) reached the page.

    Heard means its audio context's TTSStoppedFrame left the output transport (which sends it
    only after all of the context's audio) and so did its words, the text the page shows (with
    the voice out pipecat sends the words without audio: shown is all there is). Two taps:
    `named`, right after the TTS, learns which audio context speaks a text from the text the
    TTS announces ahead of that context's audio (pipecat makes the context id inside the TTS;
    a queued TTSSpeakFrame carries none), and `out`, right after the output transport, sees
    what of that context got through. Words that never all got out (the page closed, the call
    moved elsewhere, the user cut them off) were not heard: their future says so when the
    session ends.
    """

    def __init__(self) -> None:
        self._queued: list[tuple[str, asyncio.Future[bool]]] = []  # no context known yet
        self._speaking: dict[str, _Speaking] = {}  # by audio context id
        self._ended = False
        self.named = _Tap("HeardWatch.named", self._on_tts_output)
        self.out = _Tap("HeardWatch.out", self._on_transport_output)

    def expect(self, text: str) -> asyncio.Future[bool]:
        """Watch for `text`, about to be queued as a TTSSpeakFrame."""
        heard = asyncio.get_running_loop().create_future()
        if self._ended:
            heard.set_result(False)
        else:
            self._queued.append((text, heard))
        return heard

    def end(self) -> None:
        """The session is over: nothing still on its way will be heard."""
        self._ended = True
        for _, heard in self._queued:
            _settle(heard, False)
        for speaking in self._speaking.values():
            _settle(speaking.heard, False)
        self._queued.clear()
        self._speaking.clear()

    def _on_tts_output(self, frame: Frame) -> None:
        if (
            isinstance(frame, AggregatedTextFrame)
            and not isinstance(frame, TTSTextFrame)
            and frame.will_be_spoken
            and frame.context_id
        ):
            # Oldest first: the TTS takes speak frames in order. Two queued with the same text
            # are the same words, whichever of them this is.
            for index, (text, heard) in enumerate(self._queued):
                if text == frame.text:
                    del self._queued[index]
                    self._speaking[frame.context_id] = _Speaking(heard)
                    return

    def _on_transport_output(self, frame: Frame) -> None:
        if not isinstance(frame, TTSTextFrame | TTSStoppedFrame) or not frame.context_id:
            return
        speaking = self._speaking.get(frame.context_id)
        if speaking is None:
            return
        if isinstance(frame, TTSTextFrame):
            speaking.words_out = True
        else:
            speaking.stopped_out = True
        if speaking.words_out and speaking.stopped_out:
            del self._speaking[frame.context_id]
            _settle(speaking.heard, True)


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
