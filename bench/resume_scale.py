"""Resume cost vs history length: load_context on 1k, 10k and 100k-message conversations.

    uv run python -m bench.resume_scale [--iterations 200] [--sizes 1000,10000,100000]
        [--backend sqlite|postgresql] [--postgres-url postgresql://…/postgres]

One temp SQLite file (migrated by alembic, the app's WAL pragmas), or with ``--backend
postgresql`` a temporary database on the server ``--postgres-url`` (or ``$TEST_POSTGRES_URL``)
names, created and dropped by the run, holds one user with one
conversation per size, bulk-inserted with SQLAlchemy core (``insert(Message)`` executemany) as
realistic mixed rows: user questions, spoken answers, interrupted answers, assistant tool calls
with their tool results (some results stored late, after the user spoke again), empty
barge-ins. No summary rows: the worst case, where resume must walk back from the newest message
until the token budget is full.

Timed: ``load_context(session, user_id, conversation_id, budget)`` (the resume path
``build_voice_session`` runs) in a fresh ``AsyncSession`` each call, sizes interleaved call by
call, after a warm-up. Also: the same on a cold engine (new connections, empty SQLite cache), and
the whole ``build_voice_session`` for each size (it also loads the VAD and smart-turn models).
And the page's newest page of a conversation (``HistoryRepository.messages``, 100 messages, what
``GET /api/conversations/{id}/messages`` reads when a conversation is opened), timed the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, update

from bench.common import (
    add_results_name,
    quiet_logs,
    run_and_report,
    summary,
    table,
    verdict,
)

NAME = "resume_scale"
TARGET_RATIO = 1.5  # p50(100k) / p50(1k)
TARGET_P95_MS = 50.0
PAGE_SIZE = 100  # the API's default page
TARGET_PAGE_P95_MS = 20.0

WORDS = (
    "the a to and of I you it is that for on with my what can remind me note tomorrow today "
    "meeting call mom buy milk at pm am please thanks sure here your list reminder set done "
    "music jazz weather later next week friday doctor appointment groceries remember idea book"
).split()


def _text(rng: random.Random, low: int, high: int) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(low, high))]
    return " ".join(words).capitalize() + rng.choice(".?!")


def conversation_rows(conversation_id: str, count: int, seed: int) -> list[dict[str, Any]]:
    """`count` message rows in seq order, shaped like what the recorder stores."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    start = datetime(2025, 1, 1, tzinfo=UTC)
    late_results: list[dict[str, Any]] = []

    def add(**values: Any) -> None:
        seq = len(rows) + 1
        rows.append(
            {
                "conversation_id": conversation_id,
                "seq": seq,
                "kind": "message",
                "content": None,
                "tool_calls": None,
                "tool_call_id": None,
                "interrupted": False,
                "summary_until_seq": None,
                "created_at": start + timedelta(seconds=7 * seq),
                **values,
            }
        )

    while len(rows) < count:
        add(role="user", content=_text(rng, 3, 30))
        for result in late_results:  # a tool result that landed after the user spoke again
            add(**result)
        late_results.clear()
        kind = rng.random()
        if kind < 0.25:  # a tool call, its result, then the spoken answer
            call_id = f"call_{rng.getrandbits(64):016x}"
            name = rng.choice(["take_note", "set_reminder", "search_notes", "set_voice"])
            arguments = {"content": _text(rng, 3, 15)}
            if name == "set_reminder":
                arguments = {"text": _text(rng, 2, 8), "when": "tomorrow at 9"}
            add(
                role="assistant",
                tool_calls=[
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": name, "arguments": json.dumps(arguments)},
                    }
                ],
            )
            result = {
                "role": "tool",
                "tool_call_id": call_id,
                "content": json.dumps({"ok": True, "id": rng.randint(1, 10_000)}),
            }
            if rng.random() < 0.1:
                late_results.append(result)
            else:
                add(**result)
            add(role="assistant", content=_text(rng, 5, 40))
        elif kind < 0.33:  # barge-in: partly spoken, or nothing spoken at all
            add(
                role="assistant",
                content=_text(rng, 1, 8) if rng.random() < 0.7 else "",
                interrupted=True,
            )
        else:
            add(role="assistant", content=_text(rng, 5, 60))
    return rows[:count]


async def populate(db, sizes: list[int]) -> tuple[int, dict[int, str]]:
    from assistant.store.models import Conversation, Message
    from assistant.store.repository import ConversationRepository, UserRepository

    async with db.transaction() as store:
        user = await UserRepository(store).get_or_create("bench-resume", timezone="UTC")
        conversations = {}
        for size in sizes:
            conversations[size] = (await ConversationRepository(store, user.id).create()).id
    for index, size in enumerate(sizes):
        rows = conversation_rows(conversations[size], size, seed=index)
        async with db.engine.begin() as conn:
            for start in range(0, len(rows), 5000):
                await conn.execute(insert(Message), rows[start : start + 5000])
            await conn.execute(
                update(Conversation)
                .where(Conversation.id == conversations[size])
                .values(title=f"{size} messages", updated_at=rows[-1]["created_at"])
            )
    return user.id, conversations


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir())


async def _postgres_admin(url: str, statement: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _database_bytes(db, tmp: Path) -> int:
    if db.url.get_backend_name() == "sqlite":
        return _folder_bytes(tmp)
    from sqlalchemy import text

    async with db.engine.connect() as conn:
        return await conn.scalar(text("SELECT pg_database_size(current_database())"))


async def time_load(db, user_id: int, conversation_id: str, budget: int) -> tuple[float, list]:
    from assistant.store.context import load_context

    async with db.transaction() as store:
        started = time.perf_counter()
        messages = await load_context(store, user_id, conversation_id, budget)
        elapsed = time.perf_counter() - started
    return elapsed * 1000, messages


async def time_page(db, user_id: int, conversation_id: str) -> float:
    from assistant.store.history import HistoryRepository

    async with db.transaction() as store:
        started = time.perf_counter()
        page = await HistoryRepository(store, user_id).messages(conversation_id, PAGE_SIZE)
        elapsed = time.perf_counter() - started
    assert page is not None and len(page) == PAGE_SIZE
    return elapsed * 1000


async def time_build(settings, db, spec) -> float:
    from assistant.pipeline.builder import build_voice_session

    try:
        from assistant.tools.registry import default_tools
    except ImportError:
        default_tools = None
    started = time.perf_counter()
    await build_voice_session(settings, db, spec, tool_factory=default_tools)
    return (time.perf_counter() - started) * 1000


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from assistant.store.database import async_url

    tmp_dir = tempfile.TemporaryDirectory(prefix="bench-resume-")
    tmp = Path(tmp_dir.name)
    url = f"sqlite+aiosqlite:///{tmp / 'resume.db'}"
    server = None
    if args.backend == "postgresql":
        if not args.postgres_url:
            raise SystemExit("--backend postgresql needs --postgres-url or $TEST_POSTGRES_URL")
        server = async_url(args.postgres_url)
        name = f"bench_resume_{os.getpid()}"
        await _postgres_admin(
            server.render_as_string(hide_password=False), f'CREATE DATABASE "{name}"'
        )
        url = server.set(database=name).render_as_string(hide_password=False)
    try:
        return await _run(args, tmp, url)
    finally:
        tmp_dir.cleanup()
        if server is not None:
            await _postgres_admin(
                server.render_as_string(hide_password=False),
                f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
            )


async def _run(args: argparse.Namespace, tmp: Path, url: str) -> dict[str, Any]:
    from assistant.config import Settings
    from assistant.pipeline.builder import SessionSpec
    from assistant.store.context import estimate_tokens
    from assistant.store.database import Database

    settings = Settings(
        _env_file=None,
        groq_api_key="bench",
        cartesia_api_key="bench",
        groq_base_url="http://127.0.0.1:9/openai/v1",  # never contacted: nothing runs
        cartesia_url="ws://127.0.0.1:9/tts/websocket",
        database_url=url,
    )
    budget = args.budget or settings.context_token_budget
    db = Database(url)
    await db.upgrade()
    started = time.perf_counter()
    user_id, conversations = await populate(db, args.sizes)
    populate_secs = time.perf_counter() - started
    db_bytes = await _database_bytes(db, tmp)

    # Warm-up, then interleaved timed calls (rotating which size goes first).
    samples: dict[int, list[float]] = {size: [] for size in args.sizes}
    pages: dict[int, list[float]] = {size: [] for size in args.sizes}
    sent: dict[int, dict[str, int]] = {}
    for i in range(args.warmup + args.iterations):
        shift = i % len(args.sizes)
        for size in args.sizes[shift:] + args.sizes[:shift]:
            ms, messages = await time_load(db, user_id, conversations[size], budget)
            page_ms = await time_page(db, user_id, conversations[size])
            if i >= args.warmup:
                samples[size].append(ms)
                pages[size].append(page_ms)
            sent[size] = {
                "messages": len(messages),
                "estimated_tokens": sum(estimate_tokens(m) for m in messages),
            }
    await db.dispose()

    # Cold: a new engine (a new connection: SQLite's page cache empty, PostgreSQL's backend
    # process new, its shared buffers still warm) for each call.
    cold: dict[int, list[float]] = {size: [] for size in args.sizes}
    for _ in range(args.cold):
        for size in args.sizes:
            fresh = Database(url)
            ms, _ = await time_load(fresh, user_id, conversations[size], budget)
            cold[size].append(ms)
            await fresh.dispose()

    # The whole session build, per size (VAD + smart-turn model loads included).
    build: dict[int, list[float]] = {size: [] for size in args.sizes}
    if args.build:
        db = Database(url)
        specs = {
            size: SessionSpec(user_id, "bench-resume", conversations[size]) for size in args.sizes
        }
        await time_build(settings, db, specs[args.sizes[0]])  # warm-up: imports, model files
        for i in range(args.build):
            shift = i % len(args.sizes)
            for size in args.sizes[shift:] + args.sizes[:shift]:
                build[size].append(await time_build(settings, db, specs[size]))
        await db.dispose()

    small, large = min(args.sizes), max(args.sizes)
    per_size = {
        str(size): {
            "load_context_ms": summary(samples[size]),
            "cold_load_context_ms": summary(cold[size]),
            "build_voice_session_ms": summary(build[size]) if build[size] else None,
            "newest_page_ms": summary(pages[size]),
            "sent": sent[size],
        }
        for size in args.sizes
    }
    ratio = (
        per_size[str(large)]["load_context_ms"]["median"]
        / (per_size[str(small)]["load_context_ms"]["median"])
    )
    worst_p95 = max(per_size[str(s)]["load_context_ms"]["p95"] for s in args.sizes)
    page_ratio = (
        per_size[str(large)]["newest_page_ms"]["median"]
        / per_size[str(small)]["newest_page_ms"]["median"]
    )
    page_p95 = max(per_size[str(s)]["newest_page_ms"]["p95"] for s in args.sizes)
    page_pass = page_ratio <= TARGET_RATIO and page_p95 <= TARGET_PAGE_P95_MS
    return {
        "config": {
            "backend": args.backend,
            "iterations": args.iterations,
            "warmup": args.warmup,
            "token_budget": budget,
            "sizes": args.sizes,
            "rows": "mixed: user, assistant text, interrupted/empty assistant, tool call +"
            " result (10% stored late), no summaries",
            "database_bytes": db_bytes,
            "populate_secs": populate_secs,
        },
        "per_size": per_size,
        "ratio_median_largest_smallest": ratio,
        "worst_p95_ms": worst_p95,
        "newest_page": {
            "ratio_median_largest_smallest": page_ratio,
            "worst_p95_ms": page_p95,
            "pass": page_pass,
        },
        "targets": {
            "ratio": TARGET_RATIO,
            "p95_ms": TARGET_P95_MS,
            "newest_page_p95_ms": TARGET_PAGE_P95_MS,
        },
        "pass": ratio <= TARGET_RATIO and worst_p95 <= TARGET_P95_MS and page_pass,
    }


def report(data: dict[str, Any]) -> str:
    rows = []
    for size, r in data["per_size"].items():
        load, cold, build = (
            r["load_context_ms"],
            r["cold_load_context_ms"],
            r["build_voice_session_ms"],
        )
        rows.append(
            [
                size,
                load["median"],
                load["p95"],
                cold["median"],
                build["median"] if build else float("nan"),
                r["sent"]["messages"],
                r["sent"]["estimated_tokens"],
                r["newest_page_ms"]["median"],
                r["newest_page_ms"]["p95"],
            ]
        )
    sizes = data["config"]["sizes"]
    lines = [
        f"resume: load_context on {data['config'].get('backend', 'sqlite')}, budget "
        f"{data['config']['token_budget']} tokens (ms)",
        table(
            [
                "messages",
                "median",
                "p95",
                "cold median",
                "build_voice_session",
                "sent msgs",
                "sent tokens",
                f"page of {PAGE_SIZE} median",
                "page p95",
            ],
            rows,
        ),
        f"ratio {max(sizes)}/{min(sizes)} median: {data['ratio_median_largest_smallest']:.2f}"
        f" (target <= {TARGET_RATIO}); worst p95 {data['worst_p95_ms']:.1f} ms"
        f" (target <= {TARGET_P95_MS:g})",
        f"newest page: ratio {data['newest_page']['ratio_median_largest_smallest']:.2f}"
        f" (target <= {TARGET_RATIO}); worst p95 {data['newest_page']['worst_p95_ms']:.2f} ms"
        f" (target <= {TARGET_PAGE_P95_MS:g})  {verdict(data['pass'])}",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--cold", type=int, default=5, help="cold-engine calls per size")
    parser.add_argument("--build", type=int, default=5, help="build_voice_session per size")
    parser.add_argument("--budget", type=int, default=None, help="default: the app's setting")
    parser.add_argument(
        "--sizes", type=lambda t: [int(x) for x in t.split(",")], default=[1000, 10000, 100000]
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TEST_POSTGRES_URL"),
        help="--backend postgresql: a server where the run may create a database",
    )
    add_results_name(parser, NAME)
    return parser.parse_args(argv)


async def amain(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    quiet_logs()
    data = await run_and_report(args, run, report)
    return data


def main(argv: list[str] | None = None) -> None:
    asyncio.run(amain(argv))


if __name__ == "__main__":
    main()
