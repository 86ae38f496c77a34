"""Concurrent WebRTC voice sessions against one server: CPU per session, and when audio breaks.

    uv run python -m bench.concurrency [--levels 1,2,4,8,12,16] [--quiet-server-logs]

The server is a child process (``python -m bench.serve``: the production ``assistant.cli`` entry
point with aioice pinned to 127.0.0.1), configured by environment variables to use the fakes,
which run in a second child process. The N aiortc clients (fakes/rtc_client.py) run in this
process, so the server's CPU time (read from /proc) is its own.

At each level N, N clients connect at once, each with its own user and new conversation, and
send the same espeak-ng WAV as microphone: silence while the greeting plays, a spoken request,
then silence while the bot answers with a long scripted reply (fake Groq), synthesized by fake
Cartesia as a continuous tone (no pauses between words). Measured:

* server CPU seconds per session per second of listening: server process CPU time over the
  window from "every session greeted" to "every answer finished", / (window wall time × N);
* bot audio continuity at each client, over the answer (between RTVI bot-started-speaking and
  bot-stopped-speaking, trimmed to the first/last loud frame): coverage = loud audio / all
  audio received (the server's output track sends silence when its queue runs dry, so an
  underrun shows up as silence inside the tone), delivery = audio received / wall time, and
  gaps between consecutive received frames (> 60 ms counts, less any time this process's own
  event loop was stalled during the gap: a heartbeat task records those stalls; the gaps they
  explain are reported apart, as client_stall_gaps_over_60ms);
* server event-loop lag over the window: how late a 10 ms timer on the server's loop wakes
  (``bench.serve --loop-lag``). Every session's audio is paced by timers on that one loop, so a
  p99 near the 10 ms the output track runs ahead of playout means the loop, not the network or
  the clients, is what makes audio late.

A level underruns if any session's coverage or delivery is < 0.95, or any session has more than
`--max-gaps` gaps > 60 ms. The sweep stops after the first level where answers go missing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.common import (
    ROOT,
    add_results_name,
    fakes_process,
    free_port,
    percentile,
    process_cpu_seconds,
    quiet_logs,
    run_and_report,
    table,
    verdict,
)

NAME = "concurrency"
TARGET_SESSIONS = 10
LOUD_RMS = 1000.0
GAP_SECS = 0.060
REQUEST = "please tell me a long story about the sea"
REPLY = (
    "Once upon a time a small boat sailed out at dawn. The sea was calm and the sky was pink. "
    "By noon the wind turned cold and the waves grew tall and grey. "
    "They rowed home slowly, laughing, with a basket full of silver fish for supper."
)
LAST_SENTENCE = "They rowed home"
LOOP_LAG_FILE = "loop_lag.txt"


class TimedList(list):
    """A list that remembers when each item was appended (the client appends RTVI messages)."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def append(self, item: Any) -> None:
        self.times.append(time.perf_counter())
        super().append(item)


def _recorder_class():
    from fakes.rtc_client import RTCClient

    @dataclass
    class Recorder(RTCClient):
        """RTCClient that keeps (arrival time, samples, loudness) per frame instead of audio."""

        messages: TimedList = field(default_factory=TimedList)  # type: ignore[assignment]
        frames: list[tuple[float, int, float]] = field(default_factory=list)
        rate: int = 48000

        def _on_inbound_frame(self, frame) -> None:
            samples = frame.to_ndarray().astype(np.float32)
            rms = float(np.sqrt(np.mean(samples * samples))) if samples.size else 0.0
            self.rate = frame.sample_rate
            self.frames.append((time.perf_counter(), frame.samples, rms))

        def message_times(self, message_type: str) -> list[float]:
            return [
                t
                for t, m in zip(self.messages.times, self.messages, strict=True)
                if m.get("type") == message_type
            ]

    return Recorder


# --------------------------------------------------------------------------- analysis


def answer_finished(client) -> bool:
    """The bot stopped speaking after it had started saying the last sentence of the answer."""
    last_sentence = [
        t
        for t, m in zip(client.messages.times, client.messages, strict=True)
        if m.get("type") == "bot-output"
        and str((m.get("data") or {}).get("text", "")).startswith(LAST_SENTENCE)
    ]
    return bool(last_sentence) and any(
        t > last_sentence[0] for t in client.message_times("bot-stopped-speaking")
    )


class LoopStalls:
    """When this process's event loop ran late. It receives every client's audio, so a gap
    between received frames that a stall here explains says nothing about the server."""

    TICK_SECS = 0.005
    LATE_SECS = 0.020

    def __init__(self) -> None:
        self.intervals: list[tuple[float, float]] = []

    async def run(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(self.TICK_SECS)
            now = time.perf_counter()
            if now - last > self.TICK_SECS + self.LATE_SECS:
                self.intervals.append((last, now))
            last = now

    def overlap(self, begin: float, end: float) -> float:
        """Seconds of [begin, end] during which this loop was stalled."""
        return sum(max(0.0, min(end, e) - max(begin, b)) for b, e in self.intervals)


def answer_continuity(
    client, expected_secs: float, stalls: LoopStalls | None = None
) -> dict[str, Any] | None:
    """Continuity of the bot's answer: from the first loud frame after the user's (last) turn
    ended to the last loud frame before the bot stopped speaking for good."""
    turn_ends = client.message_times("user-stopped-speaking")
    stops = client.message_times("bot-stopped-speaking")
    if not turn_ends or not stops or stops[-1] < turn_ends[-1]:
        return None
    begin, end = turn_ends[-1], stops[-1] + 0.5
    window = [f for f in client.frames if begin <= f[0] <= end]
    loud_idx = [i for i, f in enumerate(window) if f[2] >= LOUD_RMS]
    if not loud_idx:
        return None
    span = window[loud_idx[0] : loud_idx[-1] + 1]
    rate = client.rate
    all_samples = sum(f[1] for f in span)
    loud_samples = sum(f[1] for f in span if f[2] >= LOUD_RMS)
    wall = span[-1][0] - span[0][0] + span[-1][1] / rate
    pairs = list(zip(span, span[1:], strict=False))
    gaps = [b[0] - a[0] for a, b in pairs]
    # A gap counts against the server only by what this process's own stalls don't explain.
    unexplained = [
        gap - (stalls.overlap(a[0], b[0]) if stalls else 0.0)
        for gap, (a, b) in zip(gaps, pairs, strict=True)
    ]
    return {
        "loud_secs": loud_samples / rate,
        "expected_secs": expected_secs,
        "coverage": loud_samples / all_samples,
        "delivery": (all_samples / rate) / wall,
        "gaps_over_60ms": sum(1 for g in unexplained if g > GAP_SECS),
        "client_stall_gaps_over_60ms": sum(
            1 for g, u in zip(gaps, unexplained, strict=True) if g > GAP_SECS >= u
        ),
        "max_gap_ms": max(unexplained, default=0.0) * 1000,
        "max_raw_gap_ms": max(gaps, default=0.0) * 1000,
        "p99_gap_ms": percentile(gaps, 99) * 1000 if gaps else 0.0,
        "user_turns": len(turn_ends),
        "interruptions": len(client.message_times("bot-interrupted")),
    }


# --------------------------------------------------------------------------- one level


async def _sample_cpu(pid: int, samples: list[tuple[float, float]]) -> None:
    while True:
        samples.append((time.perf_counter(), process_cpu_seconds(pid)))
        await asyncio.sleep(0.2)


def _phases(clients, samples: list[tuple[float, float]], n: int) -> dict[str, Any]:
    """Server CPU per session per second while everyone listens (greeting over, user's request
    not yet answered) and while every bot speaks its answer (first to last loud frame)."""

    def rate(begin: float, end: float) -> float | None:
        inside = [s for s in samples if begin <= s[0] <= end]
        if end - begin < 1.0 or len(inside) < 2:
            return None
        (t0, c0), (t1, c1) = inside[0], inside[-1]
        return (c1 - c0) / ((t1 - t0) * n)

    try:
        greeted = max(c.message_times("bot-stopped-speaking")[0] for c in clients)
        asked = min(c.message_times("user-stopped-speaking")[0] for c in clients)
        answers = [
            [
                f[0]
                for f in c.frames
                if f[0] > c.message_times("user-stopped-speaking")[-1] and f[2] >= LOUD_RMS
            ]
            for c in clients
        ]
        speaking_from = max(a[0] for a in answers)
        speaking_to = min(a[-1] for a in answers)
    except (IndexError, ValueError):
        return {}
    return {
        "listening_cpu_per_session_per_sec": rate(greeted, asked),
        "listening_secs": asked - greeted,
        "answering_cpu_per_session_per_sec": rate(speaking_from, speaking_to),
        "answering_secs": speaking_to - speaking_from,
    }


def _size(path: Path | None) -> int:
    return path.stat().st_size if path and path.exists() else 0


def loop_lag_ms(path: Path, begin: float, end: float) -> dict[str, float]:
    """Percentiles of the server loop's timer lateness logged between two unix times."""
    late = []
    with path.open() as lines:
        for line in lines:
            when, ms = line.split()
            if begin <= float(when) <= end:
                late.append(float(ms))
    return {
        "samples": len(late),
        "p50": percentile(late, 50),
        "p99": percentile(late, 99),
        "max": max(late, default=math.nan),
    }


def _log_problems(path: Path | None, offset: int) -> dict[str, Any]:
    """ERROR/WARNING lines the server logged since `offset`."""
    if path is None or not path.exists():
        return {}
    with path.open("rb") as log:
        log.seek(offset)
        lines = log.read().decode(errors="replace").splitlines()
    problems = [line for line in lines if "| ERROR" in line or "| WARNING" in line]
    return {"count": len(problems), "first": [line[:300] for line in problems[:3]]}


async def run_level(
    base_url: str,
    n: int,
    wav: Path,
    server_pid: int,
    fakes,
    args,
    log_path: Path | None = None,
    loop_lag_path: Path | None = None,
) -> dict[str, Any]:
    Recorder = _recorder_class()
    log_offset = _size(log_path)
    https = [httpx.AsyncClient(base_url=base_url, timeout=60) for _ in range(n)]
    clients = []
    stalls = LoopStalls()
    watching = asyncio.create_task(stalls.run())
    try:
        for i, http in enumerate(https):
            response = await http.post(
                "/api/session", json={"user": f"bench-n{n}-{i}", "conversation_id": None}
            )
            response.raise_for_status()
            clients.append(Recorder(http))
        connect_started = time.perf_counter()
        await asyncio.gather(*(c.connect(wav) for c in clients))
        await asyncio.gather(
            *(c.wait_until(lambda c=c: c.server_messages("session"), timeout=60) for c in clients)
        )
        connected_secs = time.perf_counter() - connect_started

        if args.profile and n == args.levels[-1]:  # profile the window of the last level
            os.kill(server_pid, signal.SIGUSR1)
        wall0, cpu0 = time.perf_counter(), process_cpu_seconds(server_pid)
        window_begins = time.time()
        self0, fakes0 = time.process_time(), fakes.cpu_seconds()

        async def answered(client) -> bool:
            try:
                await client.wait_until(
                    lambda: answer_finished(client), timeout=args.answer_timeout
                )
                return True
            except TimeoutError:
                return False

        sampler = asyncio.create_task(_sample_cpu(server_pid, samples := []))
        done = await asyncio.gather(*(answered(c) for c in clients))
        sampler.cancel()
        wall = time.perf_counter() - wall0
        window_ends = time.time()
        cpu = process_cpu_seconds(server_pid) - cpu0
        client_cpu = time.process_time() - self0
        fakes_cpu = fakes.cpu_seconds() - fakes0
        if args.profile and n == args.levels[-1]:
            os.kill(server_pid, signal.SIGUSR2)
    finally:
        watching.cancel()
        for client in clients:
            with contextlib.suppress(Exception):
                await client.close()
        # Every bot must end before the next level starts.
        async with httpx.AsyncClient(base_url=base_url) as http:
            for _ in range(150):
                if (await http.get("/healthz")).json()["voice_sessions"] == 0:
                    break
                await asyncio.sleep(0.1)
        for http in https:
            await http.aclose()
    lag = {}
    if loop_lag_path is not None:
        await asyncio.sleep(1.1)  # the server flushes its lag lines once a second
        lag = loop_lag_ms(loop_lag_path, window_begins, window_ends)

    expected = len(REPLY.split()) * args.ms_per_word / 1000
    sessions = [
        answer_continuity(c, expected, stalls) if ok else None
        for c, ok in zip(clients, done, strict=True)
    ]
    measured = [s for s in sessions if s is not None]
    missing = n - len(measured)
    worst = {
        "coverage": min((s["coverage"] for s in measured), default=math.nan),
        "delivery": min((s["delivery"] for s in measured), default=math.nan),
        "gaps_over_60ms": max((s["gaps_over_60ms"] for s in measured), default=0),
        "client_stall_gaps_over_60ms": max(
            (s["client_stall_gaps_over_60ms"] for s in measured), default=0
        ),
        "max_gap_ms": max((s["max_gap_ms"] for s in measured), default=math.nan),
        "loud_secs": min((s["loud_secs"] for s in measured), default=math.nan),
    }
    underrun = bool(
        missing
        or worst["coverage"] < 0.95
        or worst["delivery"] < 0.95
        or worst["gaps_over_60ms"] > args.max_gaps
    )
    return {
        "sessions": n,
        "answered": sum(done),
        "missing_answers": missing,
        "connect_secs": connected_secs,
        "window_secs": wall,
        "server_cpu_secs": cpu,
        "server_cpu_per_session_per_sec": cpu / (wall * n),
        "phases": _phases(clients, samples, n),
        "server_cores_busy": cpu / wall,
        "client_process_cores_busy": client_cpu / wall,
        "fakes_cores_busy": fakes_cpu / wall,
        "worst": worst,
        "per_session": sessions,
        "split_user_turns": sum(1 for s in measured if s["user_turns"] > 1),
        "server_log_problems": _log_problems(log_path, log_offset),
        "underrun": underrun,
        "client_loop_stalls": len(stalls.intervals),
        "server_loop_lag_ms": lag,
    }


# --------------------------------------------------------------------------- GC pauses

GC_PAUSE_CODE = """
import gc, json, sys, time
from assistant.runtime import warmup
if sys.argv[1] == "frozen":
    warmup.warm_voice_stack()
else:
    warmup.import_voice_stack()
    gc.collect()
pauses = []
for _ in range(7):
    started = time.perf_counter()
    gc.collect()  # a full collection, as the collector runs it when the oldest generation fills
    pauses.append((time.perf_counter() - started) * 1000)
print(json.dumps(sorted(pauses)[len(pauses) // 2]))
"""


def gc_pause_ms() -> dict[str, float]:
    """Median full-collection pause in a server process after the voice stack is loaded, without
    and with the warm-up's `gc.freeze` (each in a fresh interpreter, measured one after the
    other). A full collection stops the event loop, and with it every session's audio."""
    pauses = {}
    for variant in ("unfrozen", "frozen"):
        result = subprocess.run(
            [sys.executable, "-c", GC_PAUSE_CODE, variant],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        pauses[variant] = json.loads(result.stdout.strip().splitlines()[-1])
    return pauses


# --------------------------------------------------------------------------- server


@contextlib.asynccontextmanager
async def server_process(fakes, tmp: Path, args):
    port = free_port()
    env = {
        **os.environ,
        "GROQ_API_KEY": "bench-groq-key",
        "CARTESIA_API_KEY": "bench-cartesia-key",
        "GROQ_BASE_URL": fakes.groq_base_url,
        "CARTESIA_URL": fakes.cartesia_url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'server.db'}",
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }
    if args.turn_detection:
        env["TURN_DETECTION"] = args.turn_detection
    command = [sys.executable, "-m", "bench.serve", "--loop-lag", str(tmp / LOOP_LAG_FILE)]
    if args.profile:
        command += ["--profile", str(args.profile)]
    if args.quiet_server_logs:
        command.append("--quiet-logs")
        env["LOG_LEVEL"] = "WARNING"  # the CLI applies LOG_LEVEL after bench.serve's setup
    log = (tmp / "server.log").open("ab")  # noqa: ASYNC230 - before the loop matters
    process = await asyncio.create_subprocess_exec(
        *command, cwd=ROOT, env=env, stdout=log, stderr=asyncio.subprocess.STDOUT
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base_url) as http:
            for _ in range(300):
                if process.returncode is not None:
                    raise RuntimeError(f"server exited; see {tmp / 'server.log'}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("server never became healthy")
        yield process, base_url
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)  # like Ctrl-C: uvicorn shuts down gracefully
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()
        log.close()


# --------------------------------------------------------------------------- run


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import aioice.ice

    from fakes.speech import speech_wav

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
    wav = speech_wav(REQUEST, lead_silence=args.lead_silence, tail_silence=args.tail_silence)
    gc_pauses = await asyncio.to_thread(gc_pause_ms)
    levels: list[dict[str, Any]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-concurrency-") as tmp_name:
        tmp = Path(tmp_name)
        async with fakes_process(
            transcript=REQUEST, reply=REPLY, ms_per_word=args.ms_per_word, chunk_delay=0.0
        ) as fakes:
            async with server_process(fakes, tmp, args) as (process, base_url):
                for n in args.levels:
                    if time.perf_counter() - started > args.budget_secs:
                        print(f"  stopping before N={n}: time budget spent", flush=True)
                        break
                    level = await run_level(
                        base_url,
                        n,
                        wav,
                        process.pid,
                        fakes,
                        args,
                        tmp / "server.log",
                        tmp / LOOP_LAG_FILE,
                    )
                    levels.append(level)
                    w = level["worst"]
                    print(
                        f"  N={n:2d}: cpu/session/s {level['server_cpu_per_session_per_sec']:.3f},"
                        f" coverage {w['coverage']:.3f}, delivery {w['delivery']:.3f},"
                        f" gaps>60ms {w['gaps_over_60ms']}, max gap {w['max_gap_ms']:.0f} ms,"
                        f" answered {level['answered']}/{n},"
                        f" server loop lag p99 {level['server_loop_lag_ms']['p99']:.1f} ms",
                        flush=True,
                    )
                    if level["missing_answers"]:
                        break
            fakes_stats = await fakes.stats()
    first_underrun = next((lv["sessions"] for lv in levels if lv["underrun"]), None)
    clean = [lv["sessions"] for lv in levels if not lv["underrun"]]
    max_clean = max(
        (n for n in clean if all(lv["sessions"] > n or not lv["underrun"] for lv in levels)),
        default=0,
    )
    return {
        "config": {
            "levels": args.levels,
            "server": "child process: python -m bench.serve (assistant.cli + aioice loopback pin)"
            + (
                ", logs at WARNING"
                if args.quiet_server_logs
                else f", logs at LOG_LEVEL={os.environ.get('LOG_LEVEL', 'default')} to file"
            ),
            "clients": "aiortc (fakes/rtc_client.py) in the bench process",
            "fakes": f"child process; Cartesia {args.ms_per_word:g} ms/word, chunk_delay 0",
            "turn_detection": args.turn_detection or "server default",
            "reply_words": len(REPLY.split()),
            "loud_rms": LOUD_RMS,
            "max_gaps": args.max_gaps,
        },
        "levels": levels,
        "first_underrun_sessions": first_underrun,
        "max_sessions_without_underrun": max_clean,
        "target_sessions": TARGET_SESSIONS,
        "pass": max_clean >= TARGET_SESSIONS,
        "fakes_stats": {k: v for k, v in fakes_stats.items() if k != "transcribed_secs"},
        "full_gc_pause_ms": gc_pauses,
        "wall_secs": time.perf_counter() - started,
    }


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value


def report(data: dict[str, Any]) -> str:
    rows = []
    for lv in data["levels"]:
        w = lv["worst"]
        rows.append(
            [
                lv["sessions"],
                lv["server_cpu_per_session_per_sec"],
                _or_nan(lv["phases"].get("listening_cpu_per_session_per_sec")),
                _or_nan(lv["phases"].get("answering_cpu_per_session_per_sec")),
                lv["server_cores_busy"],
                lv["client_process_cores_busy"],
                w["coverage"],
                w["delivery"],
                w["gaps_over_60ms"],
                w["max_gap_ms"],
                lv["server_loop_lag_ms"].get("p99", math.nan),
                f"{lv['answered']}/{lv['sessions']}",
                "UNDERRUN" if lv["underrun"] else "ok",
            ]
        )
    first = data["first_underrun_sessions"]
    gc = data["full_gc_pause_ms"]
    return "\n".join(
        [
            "concurrency: N WebRTC sessions, one server process (worst session shown)",
            table(
                [
                    "N",
                    "CPU s/session/s",
                    "(listening)",
                    "(answering)",
                    "server cores",
                    "client cores",
                    "coverage",
                    "delivery",
                    "gaps>60ms",
                    "max gap ms",
                    "loop lag p99 ms",
                    "answered",
                    "audio",
                ],
                rows,
            ),
            f"max N without underrun: {data['max_sessions_without_underrun']}"
            f" (first underrun at N={first if first else 'none seen'};"
            f" target >= {TARGET_SESSIONS})  {verdict(data['pass'])}",
            "full GC pause with the voice stack loaded (stops every session's audio):"
            f" {gc['unfrozen']:.1f} ms, {gc['frozen']:.2f} ms after the warm-up's gc.freeze",
        ]
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--levels",
        type=lambda t: [int(x) for x in t.split(",")],
        default=[1, 2, 4, 8, 12, 16],
    )
    parser.add_argument("--ms-per-word", type=float, default=250.0, help="bot speech rate")
    parser.add_argument("--lead-silence", type=float, default=4.0)
    parser.add_argument("--tail-silence", type=float, default=18.0)
    parser.add_argument("--answer-timeout", type=float, default=60.0)
    parser.add_argument("--max-gaps", type=int, default=2, help="gaps > 60 ms tolerated")
    parser.add_argument("--budget-secs", type=float, default=540.0, help="stop escalating after")
    parser.add_argument("--turn-detection", choices=["smart-turn", "silence"], default=None)
    parser.add_argument("--quiet-server-logs", action="store_true")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="cProfile the server's event loop during the last level's window, stats to this"
        " file (slows the server down: use it to see where time goes, not for the numbers)",
    )
    add_results_name(parser, NAME)
    return parser.parse_args(argv)


async def amain(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    quiet_logs()
    data = await run_and_report(args, run, report)
    if args.profile:
        from bench.common import profile_breakdown

        await asyncio.sleep(1)  # the server writes the stats on SIGUSR2
        print(f"server event-loop profile, last level's window ({args.profile}):")
        print(profile_breakdown(args.profile))
    return data


def main(argv: list[str] | None = None) -> None:
    asyncio.run(amain(argv))


if __name__ == "__main__":
    main()
