"""Typed turns without a call: a text session built per request vs one kept running.

    uv run python -m bench.typed_turns [--rounds 30]

A typed turn without a call runs on a text session (`build_voice_session(..., text_only=True)`,
`assistant.runtime.chat`). This measures building one per request against keeping one per
conversation, side by side, rounds interleaved, against the fake Groq in this process (zero
think time, so the session's own cost is all there is):

- ``per-request``: `Chat.send` → reply complete and stored (`ChatTurn.result`) with
  ``keep_secs=0``: the session built and started for the turn (its end, after the answer, timed
  apart as ``end``);
- ``kept``: the same with the session kept from the previous round (the default);
- ``build``: build and start alone.

Each turn is a one-line reply in a conversation of its own that grows by two messages a round
(the resume reads them from the store each time in per-request).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import add_results_name, quiet_logs, run_and_report, summary, table

NAME = "typed_turns"


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from assistant.pipeline.builder import SessionSpec, build_voice_session
    from assistant.runtime.chat import Chat
    from assistant.runtime.live_sessions import VoiceBots
    from assistant.store.database import Database
    from assistant.store.repository import ConversationRepository, UserRepository
    from assistant.tools.registry import default_tools
    from fakes import fake_settings
    from fakes.groq import FakeGroq

    quiet_logs()
    times: dict[str, list[float]] = {"per-request": [], "kept": [], "build": [], "end": []}
    with tempfile.TemporaryDirectory() as folder:
        async with FakeGroq() as groq:
            groq.default_reply = "Sure, noted."
            settings = fake_settings(
                groq.base_url, "ws://127.0.0.1:9/unused", Path(folder) / "bench.db"
            )
            db = Database(settings.database_url)
            await db.upgrade()
            bots = VoiceBots(settings, db, default_tools)
            await bots.ready()
            once = Chat(settings, db, bots, default_tools, keep_secs=0)
            kept = Chat(settings, db, bots, default_tools)
            async with db.transaction() as store:
                user = await UserRepository(store).get_or_create("bench")
                repo = ConversationRepository(store, user.id)
                ids = [(await repo.create()).id for _ in range(3)]
            specs = [SessionSpec(user.id, user.name, c) for c in ids]

            for round_ in range(args.rounds + 2):  # the first two warm up
                t0 = time.perf_counter()
                turn = await once.send(specs[0], f"per-request turn {round_}")
                await turn.result()
                t1 = time.perf_counter()
                turn.close()
                await once.text_session_ended(specs[0].conversation_id)
                t2 = time.perf_counter()

                t3 = time.perf_counter()
                turn = await kept.send(specs[1], f"kept turn {round_}")
                await turn.result()
                t4 = time.perf_counter()
                turn.close()

                t5 = time.perf_counter()
                session = await build_voice_session(
                    settings, db, specs[2], tool_factory=default_tools, text_only=True
                )
                ready = asyncio.Event()
                session.worker.event_handler("on_pipeline_started")(lambda *_, e=ready: e.set())
                task = asyncio.create_task(session.run())
                await ready.wait()
                t6 = time.perf_counter()
                await session.worker.cancel()
                await task
                if round_ >= 2:
                    times["per-request"].append(t1 - t0)
                    times["end"].append(t2 - t1)
                    times["kept"].append(t4 - t3)
                    times["build"].append(t6 - t5)

            await once.shutdown()
            await kept.shutdown()
            await db.dispose()
    return {"rounds": args.rounds, "seconds": times, **{k: summary(v) for k, v in times.items()}}


def report(data: dict[str, Any]) -> str:
    rows = [
        (name, f"{data[name]['median'] * 1000:.1f}", f"{data[name]['p95'] * 1000:.1f}")
        for name in ("per-request", "kept", "build", "end")
    ]
    return table(("typed turn", "median ms", "p95 ms"), rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    add_results_name(parser, NAME)
    asyncio.run(run_and_report(parser.parse_args(), run, report))


if __name__ == "__main__":
    main()
