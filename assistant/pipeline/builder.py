"""Builds one voice session: transport → STT → user context → LLM + tools → TTS → assistant context.

The same builder serves the WebRTC server and the headless tests; only the transport differs.
A typed turn without a call runs on a session of the same builder with text ends (`text_only`:
no transport, STT, VAD or TTS), so the LLM, its context from the store, the tools, the recorder
and the summarizer are the ones a call has.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from loguru import logger
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.frames.frames import (
    AggregatedTextFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    LLMMessagesAppendFrame,
    TTSSpeakFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from pipecat.metrics.metrics import LLMTokenUsage
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.processors.frameworks.rtvi.frames import RTVIServerMessageFrame
from pipecat.turns.user_start import ExternalUserTurnStartStrategy
from pipecat.turns.user_stop import ExternalUserTurnStopStrategy, SpeechTimeoutUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies
from pipecat.utils.types import NOT_GIVEN
from pipecat.workers.runner import WorkerRunner

from assistant.config import Settings, TurnDetection
from assistant.pipeline.groq_http import preconnect
from assistant.pipeline.llm import (
    AssistantLLM,
    create_llm,
)
from assistant.pipeline.memory import (
    ConversationRecorder,
    MessageRecord,
    UsageRecord,
    store_appender,
)
from assistant.pipeline.outages import VoiceAvailability, VoiceDropWatch, apologize_on_errors
from assistant.pipeline.prompt import clock_line, system_instruction
from assistant.pipeline.stt import AssistantSTT, create_stt
from assistant.pipeline.summarizer import ContextSummarizer
from assistant.pipeline.tts import create_tts, tls_context, voice_update_frame
from assistant.pipeline.turns import TurnWatch, TypedReply
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
    # Where turns end: typed turns' replies, per-turn timings (see TurnWatch).
    turns: TurnWatch | None = None
    # Text ends (no transport, STT or TTS): a typed turn without a call.
    text_only: bool = False

    async def send_text(self, text: str) -> TypedReply:
        """The user's typed words, as their turn: stored, then answered as a spoken turn is.

        In a call the reply being said is cut off first, as when the user speaks, and the
        pipeline drained, so that what was said of it is in the context before the typed words
        (as pipecat's RTVI `send-text` does). `TypedReply.done` is set once the reply is
        complete (spoken, in a call)."""
        assert self.turns is not None
        await self.turns.claim()
        try:
            if not self.text_only:
                await self.worker.queue_frame(InterruptionFrame())
                await self.worker.flush_pipeline()
                self.recorder.hold()  # as for a spoken turn: writes wait for the first audio
            reply = self.turns.begin(text)
            # pipecat's user aggregator stores a spoken turn from its event; a typed one is
            # appended to the context directly, so it is recorded here, in order.
            self.recorder.record(MessageRecord(role="user", content=text))
            await self.worker.queue_frame(
                LLMMessagesAppendFrame(messages=[{"role": "user", "content": text}], run_llm=True)
            )
        except BaseException:
            self.turns.abandon_typed()
            raise
        return reply

    async def say(self, text: str) -> asyncio.Future[bool]:
        """Speak unprompted; the words go into the context and so into the store.

        The future tells whether they reached the page: True once they did (`HeardWatch`),
        False if the session ended first."""
        heard = self.heard.expect(text)
        await self.worker.queue_frame(TTSSpeakFrame(text, append_to_context=True))
        return heard

    async def notify(self, message: dict[str, Any]) -> None:
        """Send the page an app message (RTVI server-message); with text ends, it goes with the
        typed turn's reply."""
        if self.text_only:
            if self.turns is not None:
                self.turns.notice(message)
            return
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
        pipeline. Past the bound the next session goes ahead anyway, from what is stored.
        A text session (no page of its own) lets the typed turn under way finish first."""
        if self.text_only and self.turns is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.turns.idle(), timeout_secs)
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
            if self.turns is not None:
                self.turns.abandon_typed()
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
    text_only: bool = False,
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
    # Blocking work (bench/README.md measures it): two ONNX model loads (Silero VAD, smart-turn)
    # and the STT and LLM clients' TLS contexts, and on the first session the one every Cartesia
    # connection shares. On the event loop it would stall the audio of every live session each
    # time someone connects; onnxruntime and OpenSSL release the GIL, so in a thread it doesn't.
    # Constructing these off the loop is safe: none of them touches the loop until the pipeline
    # starts (asyncio primitives bind lazily).
    stt, llm, user_params = await asyncio.to_thread(
        _blocking_parts, settings, instruction, lambda: clock_line(spec.timezone, now()), text_only
    )
    # What the processors' callbacks send (app messages, words to say) goes through the
    # session, which is made last: they are given the outbox, opened onto it once it exists.
    outbox = Outbox()
    recorder = ConversationRecorder(store_appender(db, spec.user_id, spec.conversation_id))

    # Transport in → STT → user aggregator → LLM + tools: one context, the tools in it.
    tools = (
        tool_factory(
            ToolContext(
                db=db,
                user_id=spec.user_id,
                conversation_id=spec.conversation_id,
                timezone=spec.timezone,
                now=now,
                notify=outbox.notify,
                voice_frame=voice_update_frame,
            )
        )
        if tool_factory
        else []
    )
    context = LLMContext(messages=history, tools=tools or NOT_GIVEN)
    aggregators = LLMContextAggregatorPair(context, user_params=user_params)
    recorder.attach(aggregators.user(), aggregators.assistant())
    _record_usage(llm, recorder, spec.conversation_id)
    heard = HeardWatch()

    if text_only:  # typed in, text out: what fails is told to the one who typed
        tts = None
        observers = [recorder.observer]
        processors: list[FrameProcessor | None] = [aggregators.user(), llm]
    else:
        assert stt is not None
        apologize_on_errors(llm, stt, outbox.notify)
        # TTS → transport out → assistant aggregator.
        tts = create_tts(settings, voice)
        VoiceAvailability(tts, outbox.notify)
        voice_drops = VoiceDropWatch(tts, speak=outbox.say_again)
        observers = [recorder.observer, voice_drops]
        processors = [transport_input, stt, aggregators.user(), MicAudioStop(), llm]
    turns = TurnWatch(
        spec.conversation_id,
        {"stt": stt, "llm": llm, "tts": tts},
        aggregators.assistant(),
        outbox.notify,
    )
    processors.append(turns.after_llm)
    if tts is not None:
        processors += [tts, heard.named, transport_output, heard.out]
    processors += [turns.at_end, aggregators.assistant()]

    worker = AssistantWorker(
        Pipeline([p for p in processors if p is not None]),
        params=pipeline_params or PipelineParams(enable_metrics=True),
        observers=observers,
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
            name: p
            for name, p in {
                "stt": stt,
                "user": aggregators.user(),
                "llm": llm,
                "tts": tts,
                "assistant": aggregators.assistant(),
            }.items()
            if p is not None
        },
        turns=turns,
        text_only=text_only,
    )
    outbox.open(session)

    # The session's own tasks. The user's first turn finds both Groq connections open
    # (see groq_http).
    clients = [llm.client] if stt is None else [llm.client, stt.client]
    session.live_tasks.append(lambda live: preconnect(*clients))
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
    for hook in session_hooks:  # e.g. reminder delivery adds its live task and greeting line
        hook(session)
    return session


class Outbox:
    """What the session sends of its own accord (messages for the page, words to say).

    The callbacks that send (tools, apologies, the voice watches) are made with the processors,
    before the session that carries their frames: they are given this, which the builder opens
    onto the session once it exists. None of them fires before the session runs. Messages go
    through `VoiceSession.notify`, as every message for the page does.
    """

    def __init__(self) -> None:
        self._session: VoiceSession | None = None

    def open(self, session: VoiceSession) -> None:
        self._session = session

    async def notify(self, message: dict[str, Any]) -> None:
        if self._session is not None:
            await self._session.notify(message)

    async def say_again(self, text: str) -> None:
        """Speak `text` without storing it (what it repeats already is)."""
        if self._session is not None:
            await self._session.worker.queue_frame(TTSSpeakFrame(text, append_to_context=False))


def _blocking_parts(
    settings: Settings, instruction: str, clock: Callable[[], str], text_only: bool
) -> tuple[AssistantSTT | None, AssistantLLM, LLMUserAggregatorParams]:
    """What building a session does that blocks (model loads, TLS contexts): run in a thread."""
    if text_only:
        return None, create_llm(settings, instruction, clock), text_turn_params()
    stt = create_stt(settings)
    tls_context()
    return stt, create_llm(settings, instruction, clock), user_turn_params(settings)


def text_turn_params() -> LLMUserAggregatorParams:
    """Typed turns only: no VAD, and no turn-end model to load (turns are whole when sent)."""
    return LLMUserAggregatorParams(
        user_turn_strategies=UserTurnStrategies(
            start=[ExternalUserTurnStartStrategy()], stop=[ExternalUserTurnStopStrategy()]
        )
    )


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


class MicAudioStop(FrameProcessor):
    """Ends the microphone's audio after the user aggregator (VAD, turn detection), its last
    consumer. pipecat passes every frame on, so each frame of input audio would otherwise hop
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
