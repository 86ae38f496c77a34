"""Turn overhead: our full voice session vs a bare pipecat pipeline, same services, same fakes.

    uv run python -m bench.turn_overhead [--turns 60] [--turn-detection smart-turn|silence]

Latency = end of the user's turn → first bot audio:

* end of turn: the user context aggregator pushes ``UserStoppedSpeakingFrame`` downstream (the
  turn strategy has decided; the aggregated text goes to the LLM right after);
* first bot audio: the first ``TTSAudioRawFrame`` the TTS pushes into the capture processor that
  stands where the output transport would be.

Both are pipeline-clock timestamps taken by an observer at push time, so observer scheduling
doesn't skew them. Everything between (user aggregator → LLM request to fake Groq → streamed
reply → Cartesia websocket → audio) is measured, including whatever our session adds: the system
prompt and tool schemas in the request, the apology handlers, the conversation recorder and its
SQLite writes, the reminder watcher.

"ours" is ``build_voice_session`` (store, recorder, ``default_tools``, session hooks);
"bare" is GroqSTTService → LLMContextAggregatorPair(LLMContext()).user() → GroqLLMService →
CartesiaTTSService → capture → .assistant(), with the same VAD/turn parameters and pipeline
params. "bare-lean" is bare whose LLM sends its requests as ours does, without the openai SDK's
request transform (a walk over every message; its cost is in bench/README.md): ours/bare is the
verdict, ours/bare-lean what our features alone cost. The live sessions run side by side in one
process; turns rotate between them so drift and warm-up cancel out. The fakes run in a child
process with zero think time.

Input: a live microphone is simulated for both sessions: 20 ms frames of silence at real-time
pace all along, and for each turn a real espeak-ng utterance pushed at ``--speedup`` × real time
through Silero VAD, the turn strategy and Groq STT (whisper fake), followed by real-time silence.
The measured interval starts after the turn strategy's silence, when the input is back to
real-time pace, exactly as in a live call.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import functools
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    LLMContextFrame,
    LLMTextFrame,
    TTSAudioRawFrame,
    TTSStoppedFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner

from bench.common import (
    add_results_name,
    bootstrap_ratio_ci,
    fakes_process,
    quiet_logs,
    run_and_report,
    summary,
    table,
    verdict,
)

NAME = "turn_overhead"
TARGET_RATIO = 1.02
SAMPLE_RATE = 16000
CHUNK_SECS = 0.02
CHUNK_BYTES = int(SAMPLE_RATE * CHUNK_SECS) * 2
UTTERANCE = "what is on my list today"
REPLY = "Sure. You have two meetings today, one at ten and one at three. Anything else?"
STORE_ABLATIONS = {
    "ours-nostore": "none",
    "ours-minimal": "none",
    "ours-threadstore": "thread",
    "ours-nohold": "nohold",
}
VARIANTS = [
    "ours",
    "bare",
    "bare-lean",
    *STORE_ABLATIONS,
    "ours-notools",
    "ours-nohooks",
    "ours-sdkcreate",
]


# --------------------------------------------------------------------------- probes


class Capture(FrameProcessor):
    """Stands where the output transport would: passes everything on."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)


@dataclass
class TurnRecord:
    start_ns: int  # end of the user's turn (see TurnClock)
    stop_frame_ns: int | None = None
    llm_text_ns: int | None = None
    audio_ns: int | None = None
    done_ns: int | None = None
    extra_turns: int = 0
    round: int = -1


class TurnClock(BaseObserver):
    """Timestamps the turn boundaries as frames are pushed (pipeline clock, ns).

    End of the user's turn = when the user aggregator acts on the turn strategy's decision: it
    pushes the ``LLMContextFrame`` that runs the LLM on the aggregated transcript and broadcasts
    ``UserStoppedSpeakingFrame`` (pipecat 1.14 fires "inference triggered" then "finalized" from
    one synchronous call, so the context frame comes first, microseconds ahead). Whichever of
    the two is pushed first starts the clock.
    """

    def __init__(self, user: FrameProcessor, llm: FrameProcessor, capture: FrameProcessor):
        super().__init__()
        self._user, self._llm, self._capture = user, llm, capture
        self.current: TurnRecord | None = None
        self.done = asyncio.Event()

    def arm(self) -> None:
        self.current = None
        self.done.clear()

    async def on_push_frame(self, data: FramePushed) -> None:
        frame, turn = data.frame, self.current
        if isinstance(frame, (LLMContextFrame, UserStoppedSpeakingFrame)):
            if data.source is not self._user or data.direction != FrameDirection.DOWNSTREAM:
                return
            if turn is None:
                turn = self.current = TurnRecord(start_ns=data.timestamp)
            elif isinstance(frame, LLMContextFrame):
                turn.extra_turns += 1
            if isinstance(frame, UserStoppedSpeakingFrame) and turn.stop_frame_ns is None:
                turn.stop_frame_ns = data.timestamp
            return
        if turn is None:
            return
        if isinstance(frame, LLMTextFrame) and data.source is self._llm:
            turn.llm_text_ns = turn.llm_text_ns or data.timestamp
        elif isinstance(frame, TTSAudioRawFrame) and data.destination is self._capture:
            turn.audio_ns = turn.audio_ns or data.timestamp
        elif isinstance(frame, TTSStoppedFrame) and data.destination is self._capture:
            if turn.audio_ns is not None and turn.done_ns is None:
                turn.done_ns = data.timestamp
                self.done.set()


class Microphone:
    """A live mic: real-time silence, with an utterance pushed `speedup` × faster when asked."""

    def __init__(self, worker: PipelineWorker, speedup: float):
        self._worker = worker
        self._speedup = speedup
        self._speech: collections.deque[bytes] = collections.deque()
        self._drained = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="bench-mic")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def say(self, pcm: bytes) -> None:
        self._drained.clear()
        self._speech.extend(pcm[i : i + CHUNK_BYTES] for i in range(0, len(pcm), CHUNK_BYTES))
        await self._drained.wait()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        silence = bytes(CHUNK_BYTES)
        due = loop.time()
        while True:
            if self._speech:
                chunk, step = self._speech.popleft(), CHUNK_SECS / self._speedup
                if not self._speech:
                    self._drained.set()
            else:
                chunk, step = silence, CHUNK_SECS
            if len(chunk) < CHUNK_BYTES:
                chunk = chunk + bytes(CHUNK_BYTES - len(chunk))
            await self._worker.queue_frame(
                InputAudioRawFrame(audio=chunk, sample_rate=SAMPLE_RATE, num_channels=1)
            )
            due += step
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.2:  # after a stall, carry on in real time rather than burst
                due = loop.time()


@dataclass
class Live:
    name: str
    worker: PipelineWorker
    clock: TurnClock
    mic: Microphone
    task: asyncio.Task
    records: list[TurnRecord] = field(default_factory=list)
    failures: int = 0

    async def turn(self, pcm: bytes, limit_secs: float = 20.0) -> TurnRecord | None:
        self.clock.arm()
        await self.mic.say(pcm)
        try:
            await asyncio.wait_for(self.clock.done.wait(), limit_secs)
        except TimeoutError:
            self.failures += 1
            return None
        return self.clock.current

    async def stop(self) -> None:
        await self.mic.stop()
        from pipecat.frames.frames import EndFrame

        await self.worker.queue_frame(EndFrame())
        try:
            await asyncio.wait_for(asyncio.shield(self.task), 10)
        except TimeoutError:
            await self.worker.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


async def _until_started(worker: PipelineWorker, task: asyncio.Task) -> None:
    started = asyncio.Event()

    @worker.event_handler("on_pipeline_started")
    async def _started(_worker, _frame):
        started.set()

    done, _ = await asyncio.wait(
        [asyncio.create_task(started.wait()), task], timeout=30, return_when="FIRST_COMPLETED"
    )
    if task in done:
        task.result()
        raise RuntimeError("pipeline ended before it started")
    if not started.is_set():
        raise RuntimeError("pipeline did not start within 30 s")


# --------------------------------------------------------------------------- the two sessions


def session_extras(db) -> tuple[Any, list[Any], list[str]]:
    """What the server gives each session: the tool registry and the app's session hooks
    (reminder delivery, from one scheduler as in the app)."""
    notes = []
    try:
        from assistant.tools.registry import default_tools
    except ImportError:
        default_tools = None
        notes.append("assistant.tools.registry.default_tools missing: no tools")
    hooks: list[Any] = []
    try:
        from assistant.runtime.reminders import ReminderScheduler

        hooks = [ReminderScheduler(db).attach]
    except ImportError:
        pass
    notes.append(
        "session hooks (as the app): "
        + (", ".join(f"{h.__module__}.{h.__qualname__}" for h in hooks) or "none")
    )
    return default_tools, hooks, notes


async def _discard(_record) -> None:
    return None


def threaded_appender(db, user_id: int, conversation_id: str):
    """Ablation: the same rows written by a sync engine in a worker thread, Core statements only
    (the recorder still holds them until the bot speaks): the event loop only hands the record
    over, instead of running SQLAlchemy's ORM and aiosqlite round trips itself.
    """
    from sqlalchemy import create_engine, event, func, insert, select, update

    from assistant.pipeline.memory import MessageRecord
    from assistant.store.database import set_sqlite_pragmas
    from assistant.store.models import Conversation, Message, MessageKind, Role, utcnow
    from assistant.store.repository import make_title

    engine = create_engine(db.url.set(drivername="sqlite"))
    event.listen(engine, "connect", set_sqlite_pragmas)

    def write(record) -> None:
        if not isinstance(record, MessageRecord):
            return  # token usage: not what this ablation measures
        now = utcnow()
        next_seq = (
            select(func.coalesce(func.max(Message.seq), 0) + 1)
            .where(Message.conversation_id == conversation_id)
            .scalar_subquery()
        )
        values = {"updated_at": now}
        if record.role == "user" and record.content and record.content.strip():
            values["title"] = func.coalesce(Conversation.title, make_title(record.content))
        with engine.begin() as conn:
            conn.execute(
                insert(Message).values(
                    conversation_id=conversation_id,
                    seq=next_seq,
                    created_at=now,
                    kind=MessageKind.MESSAGE,
                    role=Role(record.role),
                    content=record.content,
                    tool_calls=record.tool_calls or None,
                    tool_call_id=record.tool_call_id,
                    interrupted=record.interrupted,
                )
            )
            conn.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id, Conversation.user_id == user_id)
                .values(values)
            )

    async def append(record) -> None:
        await asyncio.to_thread(write, record)

    return append


async def start_ours(
    settings,
    db,
    speedup: float,
    tool_factory,
    hooks,
    *,
    name: str = "ours",
    store: str = "app",
) -> Live:
    """Our session. Ablations only: `store="none"` swaps the recorder's SQLite writes for a
    no-op, `store="thread"` for `threaded_appender`; `store="nohold"` has the recorder write
    at once instead of holding writes until the bot speaks."""
    from assistant.pipeline import builder
    from assistant.store.repository import ConversationRepository, UserRepository

    async with db.transaction() as session_store:
        user = await UserRepository(session_store).get_or_create(f"bench-{name}", timezone="UTC")
        conversation = await ConversationRepository(session_store, user.id).create()
    spec = builder.SessionSpec(user.id, user.name, conversation.id, user.timezone)
    capture = Capture()
    real_appender, real_recorder = builder.store_appender, builder.ConversationRecorder
    if store == "none":
        builder.store_appender = lambda *_args: _discard
    elif store == "thread":
        builder.store_appender = threaded_appender
    elif store == "nohold":
        builder.ConversationRecorder = functools.partial(real_recorder, max_hold_secs=0)
    try:
        session = await builder.build_voice_session(
            settings,
            db,
            spec,
            transport_output=capture,
            tool_factory=tool_factory,
            session_hooks=hooks,
        )
    finally:
        builder.store_appender, builder.ConversationRecorder = real_appender, real_recorder
    if name == "ours-sdkcreate":  # the openai SDK's create, request transform included
        client = session.llm.client
        session.llm.stream_chat = lambda params: client.chat.completions.create(**params)
    clock = TurnClock(session.processors["user"], session.processors["llm"], capture)
    session.worker.add_observer(clock)
    task = asyncio.create_task(session.run(), name=name)
    await _until_started(session.worker, task)
    mic = Microphone(session.worker, speedup)
    mic.start()
    return Live(name, session.worker, clock, mic, task)


async def start_bare(settings, speedup: float, *, name: str = "bare") -> Live:
    """The stock pipeline. `name="bare-lean"`: its LLM sends requests the way ours does (without
    the openai SDK's request transform), so ours/bare-lean is what our features alone cost."""
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
    from pipecat.services.cartesia.tts import CartesiaTTSService
    from pipecat.services.groq.llm import GroqLLMService
    from pipecat.services.groq.stt import GroqSTTService

    key = "bench-key"
    stt = GroqSTTService(
        api_key=key,
        base_url=settings.groq_base_url,
        settings=GroqSTTService.Settings(model=settings.groq_stt_model),
    )
    llm = GroqLLMService(
        api_key=key,
        base_url=settings.groq_base_url,
        settings=GroqLLMService.Settings(model=settings.groq_llm_model),
    )
    if name == "bare-lean":
        from assistant.pipeline import compat
        from assistant.pipeline.llm import chat_params, stream_chat_completion

        async def lean_chat_completions(context):
            params = await chat_params(llm, context)
            return await stream_chat_completion(compat.client(llm), params)

        llm.get_chat_completions = lean_chat_completions
    tts = CartesiaTTSService(
        api_key=key,
        url=settings.cartesia_url,
        settings=CartesiaTTSService.Settings(
            model=settings.cartesia_model, voice=settings.cartesia_voice_id
        ),
    )
    from assistant.pipeline.builder import user_turn_params  # exactly our VAD and turn parameters

    aggregators = LLMContextAggregatorPair(LLMContext(), user_params=user_turn_params(settings))
    capture = Capture()
    clock = TurnClock(aggregators.user(), llm, capture)
    worker = PipelineWorker(
        Pipeline([stt, aggregators.user(), llm, tts, capture, aggregators.assistant()]),
        params=PipelineParams(enable_metrics=True),  # what our builder uses
        observers=[clock],
        idle_timeout_secs=None,
    )
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    task = asyncio.create_task(runner.run(), name=name)
    await _until_started(worker, task)
    mic = Microphone(worker, speedup)
    mic.start()
    return Live(name, worker, clock, mic, task)


# --------------------------------------------------------------------------- run


async def _stored_counts(db) -> dict[str, int]:
    from sqlalchemy import func, select

    from assistant.store.models import Conversation, Message, User

    async with db.transaction() as store:
        rows = await store.execute(
            select(User.name, func.count(Message.id))
            .join(Conversation, Conversation.user_id == User.id)
            .outerjoin(Message, Message.conversation_id == Conversation.id)
            .group_by(User.name)
        )
        return {name.removeprefix("bench-"): count for name, count in rows}


def _ms(a: int | None, b: int | None) -> float | None:
    return (b - a) / 1e6 if a is not None and b is not None else None


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import wave

    from assistant.store.database import Database
    from fakes import fake_settings
    from fakes.speech import speech_wav

    with wave.open(str(speech_wav(UTTERANCE, lead_silence=0.1, tail_silence=0.0)), "rb") as wav:
        pcm = wav.readframes(wav.getnframes())
    utterance_secs = len(pcm) / 2 / SAMPLE_RATE

    tmp_dir = tempfile.TemporaryDirectory(prefix="bench-turn-")
    tmp = Path(tmp_dir.name)
    async with fakes_process(
        transcript=UTTERANCE, reply=REPLY, ms_per_word=args.ms_per_word, chunk_delay=0.0
    ) as fakes:
        settings = fake_settings(
            fakes.groq_base_url,
            fakes.cartesia_url,
            tmp / "bench.db",
            turn_detection=args.turn_detection,
            turn_silence_secs=args.turn_silence,
        )
        db = Database(settings.database_url)
        await db.upgrade()
        tool_factory, hooks, notes = session_extras(db)
        lives: dict[str, Live] = {}
        for name in args.variants:
            if name.startswith("bare"):
                lives[name] = await start_bare(settings, args.speedup, name=name)
            else:
                lives[name] = await start_ours(
                    settings,
                    db,
                    args.speedup,
                    None if name in ("ours-notools", "ours-minimal") else tool_factory,
                    [] if name in ("ours-nohooks", "ours-minimal") else hooks,
                    name=name,
                    store=STORE_ABLATIONS.get(name, "app"),
                )
        started = time.perf_counter()
        try:
            total = args.warmup + args.turns
            names = list(lives)
            for i in range(total):
                # Rotate (and for two variants: ABBA) so no variant always goes first.
                shift = i % len(names)
                order = names[shift:] + names[:shift]
                if len(names) == 2 and i % 4 in (1, 2):
                    order = names[::-1]
                for name in order:
                    record = await lives[name].turn(pcm)
                    if record is not None and i >= args.warmup:
                        record.round = i
                        lives[name].records.append(record)
                    await asyncio.sleep(args.settle)
                if args.progress and (i + 1) % 10 == 0:
                    print(f"  {i + 1}/{total} rounds", flush=True)
        finally:
            elapsed = time.perf_counter() - started
            stats = await fakes.stats()
            for live in lives.values():
                await live.stop()
            stored = await _stored_counts(db)
            await db.dispose()
            tmp_dir.cleanup()

    results: dict[str, Any] = {}
    for name, live in lives.items():
        recs = live.records
        phases = {
            "turn_end_to_first_audio_ms": [_ms(r.start_ns, r.audio_ns) for r in recs],
            "turn_end_to_first_llm_text_ms": [_ms(r.start_ns, r.llm_text_ns) for r in recs],
            "first_llm_text_to_first_audio_ms": [_ms(r.llm_text_ns, r.audio_ns) for r in recs],
            "context_frame_to_stop_frame_ms": [_ms(r.start_ns, r.stop_frame_ns) for r in recs],
        }
        results[name] = {
            key: summary([v for v in values if v is not None]) for key, values in phases.items()
        }
        results[name]["raw_turn_end_to_first_audio_ms"] = phases["turn_end_to_first_audio_ms"]
        results[name]["timeouts"] = live.failures
        results[name]["split_turns"] = sum(1 for r in recs if r.extra_turns)

    by_round = {
        name: {r.round: _ms(r.start_ns, r.audio_ns) for r in live.records}
        for name, live in lives.items()
    }
    main = _compare(results, by_round, "ours", "bare")
    return {
        "config": {
            "turns_measured_per_variant": args.turns,
            "warmup_rounds": args.warmup,
            "turn_detection": args.turn_detection,
            "turn_silence_secs": args.turn_silence,
            "input": (
                "live mic simulation: real-time 20 ms silence frames; per turn a"
                f" {utterance_secs:.2f} s espeak-ng utterance pushed at {args.speedup:g}x"
                " real time through Silero VAD + turn strategy + Groq STT (fake)"
            ),
            "fakes": f"child process; Groq reply no delay; Cartesia {args.ms_per_word:g} ms/word,"
            " chunk_delay 0",
            "reply": REPLY,
            "interleaving": "ABBA per round (rotation with > 2 variants), live sessions side"
            " by side in one process",
            "variants": args.variants,
            "ours_extras": notes,
            "logging": "loguru at WARNING (production default is DEBUG to stderr)",
        },
        "results": results,
        **main,
        # What our features alone cost: both send LLM requests the same (lean) way.
        "features": _compare(results, by_round, "ours", "bare-lean")
        if "bare-lean" in lives
        else None,
        "target_ratio": TARGET_RATIO,
        "pass": main["ratio_median"] <= TARGET_RATIO,
        "stored_messages": stored,
        "fakes_stats": {k: v for k, v in stats.items() if k != "transcribed_secs"},
        "transcribed_secs_median": sorted(stats["transcribed_secs"])[
            len(stats["transcribed_secs"]) // 2
        ]
        if stats["transcribed_secs"]
        else None,
        "wall_secs": elapsed,
    }


def _compare(results, by_round, a: str, b: str) -> dict[str, Any]:
    """Variant a over variant b: ratio of medians (bootstrap CI), per-round paired, p95."""
    sa, sb = (results[n]["turn_end_to_first_audio_ms"] for n in (a, b))
    raw_a, raw_b = (results[n]["raw_turn_end_to_first_audio_ms"] for n in (a, b))
    paired = [
        by_round[a][i] / by_round[b][i]
        for i in by_round[a]
        if by_round[a][i] and by_round[b].get(i)
    ]
    return {
        "ratio_median": sa["median"] / sb["median"],
        "ratio_p95": sa["p95"] / sb["p95"],
        "ratio_median_ci95": bootstrap_ratio_ci([v for v in raw_a if v], [v for v in raw_b if v]),
        "paired_ratio_median": summary(paired)["median"],
    }


def _ratio_line(label: str, c: dict[str, Any]) -> str:
    return (
        f"{label}: median {c['ratio_median']:.3f}"
        f" (95% CI {c['ratio_median_ci95'][0]:.3f}-{c['ratio_median_ci95'][1]:.3f},"
        f" paired per round {c['paired_ratio_median']:.3f}), p95 {c['ratio_p95']:.3f}"
    )


def report(data: dict[str, Any]) -> str:
    rows = []
    for name in data["results"]:
        r = data["results"][name]
        s = r["turn_end_to_first_audio_ms"]
        rows.append(
            [
                name,
                s["n"],
                s["median"],
                s["p95"],
                r["turn_end_to_first_llm_text_ms"]["median"],
                r["first_llm_text_to_first_audio_ms"]["median"],
                r["timeouts"] + r["split_turns"],
            ]
        )
    lines = [
        f"turn overhead: end of user turn -> first bot audio (ms); {data['config']['input']}",
        table(
            [
                "variant",
                "turns",
                "median",
                "p95",
                "turn end->1st LLM text",
                "1st text->1st audio",
                "anomalies",
            ],
            rows,
        ),
        _ratio_line("ratio ours/bare", data)
        + f"  (target median <= {TARGET_RATIO})  {verdict(data['pass'])}",
    ]
    if data.get("features"):
        lines.append(_ratio_line("our features alone, ours/bare-lean", data["features"]))
    bare = data["results"]["bare"]["turn_end_to_first_audio_ms"]["median"]
    for name, r in data["results"].items():
        if name not in ("ours", "bare", "bare-lean"):
            ratio = r["turn_end_to_first_audio_ms"]["median"] / bare
            lines.append(f"ablation {name}/bare: median {ratio:.3f}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=60, help="measured turns per variant")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured rounds first")
    parser.add_argument("--speedup", type=float, default=4.0, help="utterance push speed")
    parser.add_argument("--ms-per-word", type=float, default=5.0, help="fake Cartesia audio")
    parser.add_argument("--settle", type=float, default=0.15, help="pause after each turn (s)")
    parser.add_argument("--turn-detection", choices=["smart-turn", "silence"], default="silence")
    parser.add_argument(
        "--turn-silence",
        type=float,
        default=0.3,
        help="TURN_SILENCE_SECS for both (before the measured interval: only wall time)",
    )
    parser.add_argument("--progress", action="store_true")
    parser.add_argument(
        "--variants",
        type=lambda text: text.split(","),
        default=["ours", "bare", "bare-lean"],
        help="comma-separated, interleaved: ours, bare, bare-lean (bare whose LLM requests skip"
        " the openai SDK's transform, as ours do) and the ablations ours-nostore"
        " (recorder writes nothing), ours-threadstore (recorder writes from a worker thread),"
        " ours-nohold (recorder writes at the end of the turn, not when the bot speaks),"
        " ours-notools, ours-nohooks, ours-minimal (no store, tools or hooks),"
        " ours-sdkcreate (LLM request through the openai SDK's create, as bare)",
    )
    add_results_name(parser, NAME)
    args = parser.parse_args(argv)
    unknown = set(args.variants) - set(VARIANTS)
    if unknown or not {"ours", "bare"} <= set(args.variants):
        parser.error(f"--variants needs ours and bare, from {', '.join(VARIANTS)}")
    return args


async def amain(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    quiet_logs()
    data = await run_and_report(args, run, report)
    return data


def main(argv: list[str] | None = None) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(amain(argv))


if __name__ == "__main__":
    main()
