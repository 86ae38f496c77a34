"""Startup: process start → the server answers /healthz, and where that time goes.

    uv run python -m bench.startup [--runs 5]

Each run spawns the server with both keys set, a temp DATABASE_URL and a free PORT, and polls
``GET /healthz`` every 10 ms until it answers 200; the time from spawn to that answer is the
startup time. Two commands, interleaved run by run: ``uv run assistant`` (what the README says)
and ``python -m assistant.cli`` (the same without uv's own start-up and sync check). The first
run of each on a fresh database also pays for the migrations; later runs reuse that database,
the common case.

Then the import cost alone: ``import assistant.server.app`` timed inside a fresh interpreter
(and the bare interpreter for reference), and ``python -X importtime`` summarized by top-level
package.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from typing import Any

import httpx

from bench.common import (
    ROOT,
    add_results_name,
    free_port,
    run_and_report,
    summary,
    table,
    verdict,
)

NAME = "startup"
TARGET_SECS = 3.0


async def time_start(command: list[str], database_url: str) -> float:
    port = free_port()
    env = {
        **os.environ,
        "GROQ_API_KEY": "bench-groq-key",
        "CARTESIA_API_KEY": "bench-cartesia-key",
        "DATABASE_URL": database_url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,  # uv run's child gets the signal too
    )
    try:
        async with httpx.AsyncClient(timeout=1.0) as http:
            while True:
                if process.returncode is not None:
                    raise RuntimeError(f"{command} exited with {process.returncode}")
                try:
                    response = await http.get(f"http://127.0.0.1:{port}/healthz")
                    if response.status_code == 200:
                        return time.perf_counter() - started
                except httpx.HTTPError:
                    pass
                if time.perf_counter() - started > 60:
                    raise RuntimeError(f"{command} not healthy after 60 s")
                await asyncio.sleep(0.01)
    finally:
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                os.killpg(process.pid, signal.SIGKILL)
                await process.wait()


def time_import(statement: str) -> float:
    """Seconds `statement` takes in a fresh interpreter (interpreter start-up excluded)."""
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def time_interpreter() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], cwd=ROOT, check=True)
    return time.perf_counter() - started


_IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def import_profile(module: str = "assistant.server.app") -> dict[str, Any]:
    """`python -X importtime -c "import <module>"`, summed per top-level package."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    by_package_self: dict[str, float] = defaultdict(float)
    top_level: list[tuple[float, str]] = []
    ours: dict[str, float] = {}
    total_self = 0.0
    for line in out.stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if not match:
            continue
        self_us, cumulative_us, indent, name = match.groups()
        total_self += int(self_us) / 1e6
        by_package_self[name.split(".")[0]] += int(self_us) / 1e6
        if name.startswith("assistant."):
            ours[name] = int(cumulative_us) / 1e6
        if len(indent) == 1:  # imported directly by the statement: cumulative is its whole cost
            top_level.append((int(cumulative_us) / 1e6, name))
    packages = sorted(by_package_self.items(), key=lambda kv: -kv[1])
    return {
        "total_secs": total_self,
        "by_package_self_secs": dict(packages[:15]),
        "module_cumulative_secs": {name: secs for secs, name in sorted(top_level)[::-1][:10]},
        # Our modules, each with everything it imported first (nested ones count inside).
        "assistant_modules_cumulative_secs": dict(sorted(ours.items(), key=lambda kv: -kv[1])[:12]),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    commands = {
        "uv run assistant": ["uv", "run", "assistant"],
        "python -m assistant.cli": [sys.executable, "-m", "assistant.cli"],
    }
    first_run: dict[str, float] = {}
    samples: dict[str, list[float]] = {name: [] for name in commands}
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        urls = {name: f"sqlite+aiosqlite:///{tmp}/{i}.db" for i, name in enumerate(commands)}
        for name, command in commands.items():  # fresh database: migrations run
            first_run[name] = await time_start(command, urls[name])
        for i in range(args.runs):
            names = list(commands) if i % 2 == 0 else list(commands)[::-1]
            for name in names:
                samples[name].append(await time_start(commands[name], urls[name]))

    imports = [time_import("import assistant.server.app") for _ in range(args.import_runs)]
    interpreter = [time_interpreter() for _ in range(args.import_runs)]
    pipecat_only = [
        time_import("import pipecat.transports.smallwebrtc.transport")
        for _ in range(args.import_runs)
    ]
    profile = import_profile()
    per_command = {name: summary(values) for name, values in samples.items()}
    median = per_command["uv run assistant"]["median"]
    return {
        "config": {"runs": args.runs, "import_runs": args.import_runs},
        "start_to_healthy_secs": per_command,
        "first_run_fresh_database_secs": first_run,
        "import_assistant_server_app_secs": summary(imports),
        "import_pipecat_smallwebrtc_transport_secs": summary(pipecat_only),
        "bare_interpreter_secs": summary(interpreter),
        "importtime": profile,
        "target_secs": TARGET_SECS,
        "pass": median <= TARGET_SECS,
    }


def report(data: dict[str, Any]) -> str:
    rows = [
        [name, s["n"], s["median"], s["p95"], data["first_run_fresh_database_secs"][name]]
        for name, s in data["start_to_healthy_secs"].items()
    ]
    imp = data["importtime"]
    package_rows = [
        [name, secs, 100 * secs / imp["total_secs"]]
        for name, secs in list(imp["by_package_self_secs"].items())[:10]
    ]
    ours_rows = [
        [name, secs]
        for name, secs in list(imp.get("assistant_modules_cumulative_secs", {}).items())[:8]
    ]
    uv_median = data["start_to_healthy_secs"]["uv run assistant"]["median"]
    return "\n".join(
        [
            "startup: spawn -> GET /healthz 200 (s)",
            table(["command", "runs", "median", "p95", "first run (fresh db)"], rows),
            f"median {uv_median:.2f} s (target <= {TARGET_SECS:g} s)  {verdict(data['pass'])}",
            f"import assistant.server.app: median "
            f"{data['import_assistant_server_app_secs']['median']:.2f} s"
            f" (of which pipecat smallwebrtc transport alone"
            f" {data['import_pipecat_smallwebrtc_transport_secs']['median']:.2f} s);"
            f" bare interpreter {data['bare_interpreter_secs']['median']:.2f} s",
            f"python -X importtime, own time by top-level package"
            f" (total {imp['total_secs']:.2f} s):",
            table(["package", "seconds", "%"], package_rows),
            "our modules, cumulative (includes what each imported first):",
            table(["module", "seconds"], ours_rows),
        ]
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed starts per command")
    parser.add_argument("--import-runs", type=int, default=5)
    add_results_name(parser, NAME)
    return parser.parse_args(argv)


async def amain(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    data = await run_and_report(args, run, report)
    return data


def main(argv: list[str] | None = None) -> None:
    asyncio.run(amain(argv))


if __name__ == "__main__":
    main()
