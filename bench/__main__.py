"""Run every benchmark, each in its own interpreter, then print one combined table.

    uv run python -m bench                 # all five (bench/README.md: how long each takes)
    uv run python -m bench resume_scale startup
    uv run python -m bench --summary       # just the table, from bench/results/*.json

Each benchmark still writes its own bench/results/<name>.json; the combined summary goes to
bench/results/all.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import RESULTS_DIR, ROOT, table, verdict, write_results

BENCHMARKS = ("turn_overhead", "resume_scale", "concurrency", "startup", "tokens")


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS_DIR / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def summary_rows(results: dict[str, dict[str, Any] | None]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    turn = results.get("turn_overhead")
    if turn:
        ours = turn["results"]["ours"]["turn_end_to_first_audio_ms"]
        bare = turn["results"]["bare"]["turn_end_to_first_audio_ms"]
        rows.append(
            [
                "turn_overhead",
                "turn end -> 1st audio, ours/bare median",
                f"{turn['ratio_median']:.3f} ({ours['median']:.1f} / {bare['median']:.1f} ms)",
                f"<= {turn['target_ratio']}",
                verdict(turn["pass"]),
            ]
        )
        rows.append(
            [
                "",
                "  p95 ours / bare",
                f"{ours['p95']:.1f} / {bare['p95']:.1f} ms",
                "",
                "",
            ]
        )
        if turn.get("features"):
            rows.append(
                [
                    "",
                    "  our features alone (ours/bare-lean)",
                    f"{turn['features']['ratio_median']:.3f}",
                    "",
                    "",
                ]
            )
    resume = results.get("resume_scale")
    if resume:
        sizes = resume["config"]["sizes"]
        rows.append(
            [
                "resume_scale",
                f"load_context median {max(sizes)}/{min(sizes)} msgs",
                f"{resume['ratio_median_largest_smallest']:.2f}",
                f"<= {resume['targets']['ratio']}",
                verdict(resume["ratio_median_largest_smallest"] <= resume["targets"]["ratio"]),
            ]
        )
        rows.append(
            [
                "",
                "  worst p95",
                f"{resume['worst_p95_ms']:.1f} ms",
                f"<= {resume['targets']['p95_ms']:g} ms",
                verdict(resume["worst_p95_ms"] <= resume["targets"]["p95_ms"]),
            ]
        )
    conc = results.get("concurrency")
    if conc:
        clean = [lv for lv in conc["levels"] if not lv["underrun"]]
        cpu = clean[-1] if clean else conc["levels"][0]
        rows.append(
            [
                "concurrency",
                "max sessions without underrun",
                f"{conc['max_sessions_without_underrun']}"
                f" (first underrun N={conc['first_underrun_sessions']})",
                f">= {conc['target_sessions']}",
                verdict(conc["pass"]),
            ]
        )
        rows.append(
            [
                "",
                f"  server CPU s/session/s at N={cpu['sessions']}",
                f"{cpu['server_cpu_per_session_per_sec']:.3f}",
                "",
                "",
            ]
        )
    start = results.get("startup")
    if start:
        median = start["start_to_healthy_secs"]["uv run assistant"]["median"]
        rows.append(
            [
                "startup",
                "uv run assistant -> /healthz, median",
                f"{median:.2f} s",
                f"<= {start['target_secs']:g} s",
                verdict(start["pass"]),
            ]
        )
        rows.append(
            [
                "",
                "  import assistant.server.app",
                f"{start['import_assistant_server_app_secs']['median']:.2f} s",
                "",
                "",
            ]
        )
    tokens = results.get("tokens")
    if tokens:
        prompt = tokens["prompt_tokens"]
        rows.append(
            [
                "tokens",
                "prompt tokens per request, median / max",
                f"{prompt['median']:.0f} / {prompt['max']:.0f}",
                f"<= {tokens['target_median']} / {tokens['target_max']}",
                verdict(tokens["pass"]),
            ]
        )
        rows.append(
            [
                "",
                "  free Groq key: turns per minute / day",
                f"{tokens['free_key']['turns_per_minute']:.1f} / "
                f"{tokens['free_key']['turns_per_day']:.0f}",
                "",
                "",
            ]
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    only_summary = "--summary" in argv
    names = [a for a in argv if not a.startswith("-")] or list(BENCHMARKS)
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        print(f"unknown benchmark(s): {', '.join(sorted(unknown))}; have {', '.join(BENCHMARKS)}")
        return 2
    failed = []
    durations: dict[str, float] = {}
    if not only_summary:
        for name in names:
            print(f"== {name}", flush=True)
            started = time.perf_counter()
            code = subprocess.run([sys.executable, "-m", f"bench.{name}"], cwd=ROOT).returncode
            durations[name] = time.perf_counter() - started
            if code:
                failed.append(name)
            print(flush=True)
    results = {name: _load(name) for name in BENCHMARKS}
    rows = summary_rows(results)
    print("== summary (targets are goals, not asserts)")
    print(table(["benchmark", "metric", "value", "target", ""], rows))
    if not only_summary:
        path = write_results(
            "all",
            {
                "ran": names,
                "failed": failed,
                "durations_secs": durations,
                "summary": [
                    dict(zip(["benchmark", "metric", "value", "target", "verdict"], r, strict=True))
                    for r in rows
                ],
                "results_files": {
                    name: str(Path("bench/results") / f"{name}.json") for name in names
                },
            },
        )
        print(f"-> {path}")
    if failed:
        print(f"failed to run: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
