"""Shared bench helpers: machine info, stats, tables, JSON results, the fakes subprocess."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"


# --------------------------------------------------------------------------- machine & results


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    status = _git("status", "--porcelain", "--untracked-files=no")
    try:
        usable_cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        usable_cpus = os.cpu_count()
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpus": usable_cpus,
        "load_avg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "pipecat": _version("pipecat-ai"),
        "aiortc": _version("aiortc"),
        "sqlalchemy": _version("sqlalchemy"),
    }


def write_results(name: str, data: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    payload = {"benchmark": name, "machine": machine_info(), **data}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


def add_results_name(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--results-name",
        default=default,
        help="write bench/results/<this>.json (default: %(default)s)",
    )


async def run_and_report(
    args: argparse.Namespace,
    run: Callable[[argparse.Namespace], Awaitable[dict[str, Any]]],
    report: Callable[[dict[str, Any]], str],
) -> dict[str, Any]:
    """Every benchmark's entry point: run, print the table, write the JSON."""
    data = await run(args)
    print(report(data))
    path = write_results(args.results_name, data)
    print(f"-> {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return data


# --------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in [0, 100]); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "median": percentile(values, 50),
        "p95": percentile(values, 95),
        "min": min(values) if values else math.nan,
        "max": max(values) if values else math.nan,
        "mean": sum(values) / len(values) if values else math.nan,
    }


def bootstrap_ratio_ci(
    numerator: Sequence[float],
    denominator: Sequence[float],
    *,
    resamples: int = 2000,
    seed: int = 1,
) -> tuple[float, float]:
    """95% bootstrap interval of median(numerator) / median(denominator)."""
    import random

    if not numerator or not denominator:
        return math.nan, math.nan
    rng = random.Random(seed)
    ratios = []
    for _ in range(resamples):
        a = [rng.choice(numerator) for _ in numerator]
        b = [rng.choice(denominator) for _ in denominator]
        ratios.append(percentile(a, 50) / percentile(b, 50))
    return percentile(ratios, 2.5), percentile(ratios, 97.5)


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


# --------------------------------------------------------------------------- tables


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table: numbers right-aligned, text left-aligned."""
    cells = [[_fmt(c) for c in row] for row in rows]
    numeric = [
        all(isinstance(row[i], int | float) for row in rows) if rows else False
        for i in range(len(headers))
    ]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in cells)])


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if abs(value) >= 100:
            return f"{value:.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3f}" if abs(value) < 1 else f"{value:.2f}"
    return str(value)


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process, children excluded (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def self_cpu_seconds() -> float:
    return time.process_time()


@dataclass
class Fakes:
    """The fakes running in a child process (see bench/fakes_server.py)."""

    process: asyncio.subprocess.Process
    groq_base_url: str
    cartesia_url: str

    async def stats(self) -> dict[str, Any]:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(b"stats\n")
        await self.process.stdin.drain()
        return json.loads(await asyncio.wait_for(self.process.stdout.readline(), 10))

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.process.pid)


@contextlib.asynccontextmanager
async def fakes_process(
    *,
    transcript: str,
    reply: str,
    ms_per_word: float,
    chunk_ms: float = 20.0,
    chunk_delay: float = 0.0,
) -> AsyncIterator[Fakes]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.fakes_server",
        "--transcript",
        transcript,
        "--reply",
        reply,
        "--ms-per-word",
        str(ms_per_word),
        "--chunk-ms",
        str(chunk_ms),
        "--chunk-delay",
        str(chunk_delay),
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        if not line:
            raise RuntimeError("the fakes process exited before listening")
        urls = json.loads(line)
        yield Fakes(process, urls["groq_base_url"], urls["cartesia_url"])
    finally:
        if process.returncode is None:
            assert process.stdin is not None
            process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


def quiet_logs(level: str = "WARNING") -> None:
    """pipecat logs every frame-level event at DEBUG through loguru: far too slow to bench."""
    from assistant.cli import configure_logging

    configure_logging(level)


# --------------------------------------------------------------------------- profiles

_CATEGORIES = (
    # (category, substrings of "file:function" for Python code or of the builtin's name)
    (
        "webrtc media (aiortc/aioice/srtp/opus/av)",
        (
            "aiortc",
            "aioice",
            "pylibsrtp",
            "av.",
            "'av",
            "opus",
            "AudioResampler",
            "_socket",
            "sendto",
            "send_data",
        ),
    ),
    (
        "vad + smart-turn (onnxruntime)",
        ("onnxruntime", "silero", "smart_turn", "vad_analyzer", "vad_controller"),
    ),
    ("logging (loguru)", ("loguru",)),
    ("assistant (ours)", ("/assistant/",)),
    ("store (sqlalchemy/aiosqlite)", ("sqlalchemy", "aiosqlite", "sqlite3")),
    ("pipecat observers", ("observer",)),
    ("pipecat pipeline", ("pipecat",)),
    (
        "http/websocket clients",
        ("httpx", "httpcore", "openai", "websockets", "h11", "anyio", "aiohttp"),
    ),
    ("web server", ("uvicorn", "starlette", "fastapi")),
    ("asyncio event loop", ("asyncio", "selectors", "epoll", "_contextvars", "_queue")),
    ("numpy", ("numpy",)),
)


def profile_breakdown(path: Path | str, top: int = 12) -> str:
    """Group a cProfile dump's own time (tottime) by component, plus the top functions."""
    import pstats

    stats = pstats.Stats(str(path))
    total = stats.total_tt or 1e-9
    groups: dict[str, float] = {}
    functions = []
    for (filename, line, name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        key = f"{filename}:{name}"
        category = next(
            (cat for cat, needles in _CATEGORIES if any(n in key for n in needles)), "other"
        )
        groups[category] = groups.get(category, 0.0) + tottime
        functions.append((tottime, f"{Path(filename).name}:{line}({name})"))
    rows = [
        [category, seconds, 100 * seconds / total]
        for category, seconds in sorted(groups.items(), key=lambda kv: -kv[1])
    ]
    top_rows = [
        [name, seconds, 100 * seconds / total] for seconds, name in sorted(functions)[::-1][:top]
    ]
    return "\n".join(
        [
            table(["component (own time)", "seconds", "%"], rows),
            "",
            table(["top functions (own time)", "seconds", "%"], top_rows),
        ]
    )
