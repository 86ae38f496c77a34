"""`python -m assistant.cli`, with aioice pinned to 127.0.0.1 (as tests/live_server.py does).

aioice never offers loopback candidates; a benchmark whose clients live on the same machine
needs exactly those. Everything else is the production entry point: settings from the
environment, alembic upgrade on start, uvicorn, the default tools, pipecat's default logging.

    python -m bench.serve [--quiet-logs] [--profile PATH] [--loop-lag PATH]
                          [assistant.cli arguments...]

``--profile PATH``: SIGUSR1 starts cProfile on the main thread (the event loop), SIGUSR2 stops
it and writes the stats to PATH, so a benchmark can profile exactly its measurement window.

``--loop-lag PATH``: a task on the server's event loop sleeps 10 ms at a time and appends how
late each wake-up was to PATH (``<unix time> <ms late>`` per line, flushed every second). Every
session's audio pacing runs on timers of that loop, so this is how late its audio can be; a
benchmark reads the lines inside its own window.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time

import aioice.ice


def _install_profiler(path: str) -> None:
    import cProfile

    profiler = cProfile.Profile()

    def start(_signum, _frame) -> None:
        profiler.enable()

    def stop(_signum, _frame) -> None:
        profiler.disable()
        profiler.dump_stats(path)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)


async def _record_loop_lag(path: str, period: float = 0.010) -> None:
    with open(path, "a", buffering=1 << 16) as out:  # noqa: ASYNC230 - buffered, flushed 1/s
        flushed = time.monotonic()
        while True:
            asleep = time.perf_counter()
            await asyncio.sleep(period)
            late_ms = (time.perf_counter() - asleep - period) * 1000
            out.write(f"{time.time():.3f} {late_ms:.2f}\n")
            if time.monotonic() - flushed >= 1.0:
                out.flush()
                flushed = time.monotonic()


def _install_loop_lag_probe(path: str) -> None:
    """Run `_record_loop_lag` for as long as uvicorn serves (the CLI gives no other hook)."""
    import uvicorn

    serve = uvicorn.Server.serve

    async def serve_with_probe(self, *args, **kwargs):
        probe = asyncio.create_task(_record_loop_lag(path))
        try:
            return await serve(self, *args, **kwargs)
        finally:
            probe.cancel()

    uvicorn.Server.serve = serve_with_probe


def _pop_option(argv: list[str], name: str) -> str | None:
    """Remove `name VALUE` from argv (ours, not the CLI's) and return VALUE."""
    if name not in argv:
        return None
    at = argv.index(name)
    value = argv[at + 1]
    del argv[at : at + 2]
    return value


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
    if "--quiet-logs" in argv:  # not what production does: pipecat logs DEBUG to stderr
        argv.remove("--quiet-logs")
        from loguru import logger

        logger.remove()
        logger.add(sys.stderr, level="WARNING")
    if path := _pop_option(argv, "--profile"):
        _install_profiler(path)
    if path := _pop_option(argv, "--loop-lag"):
        _install_loop_lag_probe(path)
    from assistant.cli import main as assistant_main

    return assistant_main(argv)


if __name__ == "__main__":
    sys.exit(main())
