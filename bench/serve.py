"""`python -m assistant.cli`, with aioice pinned to 127.0.0.1 (as tests/live_server.py does).

aioice never offers loopback candidates; a benchmark whose clients live on the same machine
needs exactly those. Everything else is the production entry point: settings from the
environment, alembic upgrade on start, uvicorn, the default tools, pipecat's default logging.

    python -m bench.serve [--quiet-logs] [--profile PATH] [assistant.cli arguments...]

``--profile PATH``: SIGUSR1 starts cProfile on the main thread (the event loop), SIGUSR2 stops
it and writes the stats to PATH, so a benchmark can profile exactly its measurement window.
"""

from __future__ import annotations

import signal
import sys

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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
    if "--quiet-logs" in argv:  # not what production does: pipecat logs DEBUG to stderr
        argv.remove("--quiet-logs")
        from loguru import logger

        logger.remove()
        logger.add(sys.stderr, level="WARNING")
    if "--profile" in argv:
        at = argv.index("--profile")
        _install_profiler(argv[at + 1])
        del argv[at : at + 2]
    from assistant.cli import main as assistant_main

    return assistant_main(argv)


if __name__ == "__main__":
    sys.exit(main())
