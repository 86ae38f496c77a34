"""Long call: prompt tokens per LLM request over a 200-turn live session.

    uv run python -m bench.long_call [--turns 200] [--budget 6000]

One headless voice session (`build_voice_session`, the server's tools, the store) against the
fakes, in process. Each turn is the user's transcript (no audio: turn detection isn't what is
measured) followed by the model's answer; the next turn starts once the answer's assistant turn
has ended. The fake model answers in 30-40 words and writes 120-word summaries.

For every answer request the fake receives: its prompt tokens as the fake counts them (JSON of
messages + tools / 4, what ``usage.prompt_tokens`` reports; the system instruction and tool
schemas included), and what `CONTEXT_TOKEN_BUDGET` bounds, the history estimate (the summary
and the messages before the current turn, `assistant.store.context.history_tokens`). Once the
conversation reaches the budget both stay flat: older turns are folded into a stored summary
in the background, and until it is ready the oldest turns are trimmed from the request. The
last request's size without any of this (everything said so far) is reported for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    add_results_name,
    percentile,
    quiet_logs,
    run_and_report,
    summary,
    table,
)

NAME = "long_call"
SUBJECTS = [
    "my sister's wedding in Lisbon next spring",
    "the boiler that keeps making a knocking noise",
    "a birthday present for my nephew who likes trains",
    "how to get my tomatoes to ripen before the frost",
    "the book club meeting on Thursday evening",
    "whether to take the early train to Manchester",
    "the dentist appointment I keep forgetting to book",
    "a recipe for dinner with leeks and potatoes",
]


def user_turn(i: int) -> str:
    return f"Turn {i}: can you help me think about {SUBJECTS[i % len(SUBJECTS)]} for a minute?"


def answer(i: int) -> str:
    subject = SUBJECTS[i % len(SUBJECTS)]
    return (
        f"Of course. About {subject}, I would start with the one thing that has to happen "
        f"first, write it down, and pick a day this week for it. Shall I take a note of that, "
        f"or set a reminder for you? That was answer number {i}."
    )


def summary_text(n: int) -> str:
    words = " ".join(f"detail{k}" for k in range(100))
    return f"Summary {n}: the user talked about plans, errands and family; {words}."


class Model:
    """The fake model's answers and summaries, counted."""

    def __init__(self) -> None:
        self.answers = 0
        self.summaries = 0

    def __call__(self, body: dict[str, Any]) -> str:
        if not body.get("stream"):
            self.summaries += 1
            return summary_text(self.summaries)
        self.answers += 1
        return answer(self.answers - 1)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy import select

    from assistant.store.context import (
        SUMMARY_PREFIX,
        estimate_tokens,
        history_tokens,
        to_openai_messages,
    )
    from assistant.store.database import Database
    from assistant.store.models import Message, MessageKind
    from assistant.tools.registry import default_tools
    from fakes import fake_settings
    from fakes.cartesia import FakeCartesia
    from fakes.groq import FakeGroq, prompt_tokens
    from fakes.harness import Headless

    model = Model()
    tmp_dir = tempfile.TemporaryDirectory(prefix="bench-long-call-")
    async with FakeGroq(default_reply=model) as groq, FakeCartesia() as cartesia:
        settings = fake_settings(
            groq.base_url,
            cartesia.url,
            Path(tmp_dir.name) / "bench.db",
            turn_silence_secs=args.turn_silence,
            context_token_budget=args.budget,
        )
        db = Database(settings.database_url)
        await db.upgrade()
        headless = Headless(settings=settings, db=db, fake_groq=groq, tool_factory=default_tools)
        started = time.perf_counter()
        try:
            async with headless.session() as live:
                for i in range(args.turns):
                    await live.user_said(user_turn(i))
                    if args.progress and (i + 1) % 20 == 0:
                        print(f"  {i + 1}/{args.turns} turns", flush=True)
                applied = live.session.summarizer.applied if live.session.summarizer else 0
            elapsed = time.perf_counter() - started
            async with db.session() as store:
                rows = (
                    await store.scalars(
                        select(Message)
                        .where(Message.conversation_id == live.spec.conversation_id)
                        .order_by(Message.seq)
                    )
                ).all()
        finally:
            await db.dispose()
            tmp_dir.cleanup()

    answers = [r for r in groq.chat_requests if r.get("stream")]
    summaries = [r for r in groq.chat_requests if not r.get("stream")]
    prompt = [prompt_tokens(r) for r in answers]
    history = [history_tokens(r["messages"]) for r in answers]
    with_summary = [
        i for i, r in enumerate(answers) if r["messages"][1]["content"].startswith(SUMMARY_PREFIX)
    ]
    # Flat from the first request whose history is within 10% of the budget.
    reached = next((i for i, h in enumerate(history) if h >= 0.9 * args.budget), None)
    after = slice(reached, None) if reached is not None else slice(0, 0)
    stored = [m for m in rows if m.kind == MessageKind.MESSAGE]
    everything = [answers[-1]["messages"][0], *to_openai_messages(stored)]
    unbounded = {**answers[-1], "messages": everything}
    return {
        "config": {
            "turns": args.turns,
            "budget": args.budget,
            "turn_silence_secs": args.turn_silence,
            "input": "user turns as transcripts (TranscriptionFrame), no audio",
            "fakes": "in process; answers 30-40 words, summaries ~120 words",
            "tools": "default_tools (schemas in every request)",
        },
        "requests": len(answers),
        "prompt_tokens": {
            "first": prompt[0],
            "median": percentile(prompt, 50),
            "max": max(prompt),
            **{f"all_{k}": v for k, v in summary(prompt).items()},
        },
        "history_tokens": {
            "first": history[0],
            "median": percentile(history, 50),
            "max": max(history),
        },
        "budget_reached_at_request": reached,
        "after_budget_reached": {
            "prompt_tokens": summary(prompt[after]),
            "history_tokens": summary(history[after]),
        },
        "first_request_with_summary": with_summary[0] if with_summary else None,
        "summary_requests": len(summaries),
        "summaries_folded_live": applied,
        "summaries_stored": sum(1 for m in rows if m.kind == MessageKind.SUMMARY),
        "unbounded_last_request": {
            "prompt_tokens": prompt_tokens(unbounded),
            "history_tokens": sum(estimate_tokens(m) for m in everything[1:]),
        },
        "protocol_errors": groq.protocol_errors,
        "raw_prompt_tokens": prompt,
        "raw_history_tokens": history,
        "wall_secs": elapsed,
    }


def report(data: dict[str, Any]) -> str:
    after = data["after_budget_reached"]
    rows = []
    for key, label in (
        ("prompt_tokens", "prompt tokens (fake's count)"),
        ("history_tokens", "history tokens (our estimate)"),
    ):
        whole, flat = data[key], after[key]
        rows.append(
            [label, whole["first"], whole["median"], whole["max"]]
            + [flat["min"], flat["median"], flat["max"]]
        )
    return "\n".join(
        [
            f"long call: {data['requests']} answer requests,"
            f" CONTEXT_TOKEN_BUDGET={data['config']['budget']}",
            table(
                ["per request", "first", "median", "max", "then: min", "median", "max"],
                rows,
            ),
            "'then': from the first request whose history is within 10% of the budget, at"
            f" request {data['budget_reached_at_request']};"
            f" first request with a summary: {data['first_request_with_summary']};"
            f" {data['summary_requests']} summary requests,"
            f" {data['summaries_folded_live']} folded into the live context,"
            f" {data['summaries_stored']} stored",
            f"without bounding, the last request would carry"
            f" {data['unbounded_last_request']['prompt_tokens']} prompt tokens"
            f" ({data['unbounded_last_request']['history_tokens']} of history);"
            f" protocol errors: {len(data['protocol_errors'])}; {data['wall_secs']:.0f} s",
        ]
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--budget", type=int, default=6000, help="CONTEXT_TOKEN_BUDGET")
    parser.add_argument(
        "--turn-silence", type=float, default=0.05, help="TURN_SILENCE_SECS (only wall time)"
    )
    parser.add_argument("--progress", action="store_true")
    add_results_name(parser, NAME)
    return parser.parse_args(argv)


async def amain(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    quiet_logs()
    return await run_and_report(args, run, report)


def main(argv: list[str] | None = None) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(amain(argv))


if __name__ == "__main__":
    main()
