"""The offline fakes (fakes/) in their own process, so their CPU never counts as ours.

    python -m bench.fakes_server --transcript "..." --reply "..." --ms-per-word 20

prints one JSON line ``{"groq_base_url", "cartesia_url"}`` once both listen, then serves until
stdin closes. A line ``stats`` on stdin is answered with one JSON line of counters (requests,
protocol errors, transcribed audio durations) so a benchmark can check the fakes were used as
intended.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from fakes.cartesia import FakeCartesia
from fakes.groq import FakeGroq


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--transcript", default="what is on my list today")
    parser.add_argument("--reply", default="Sure. You have two meetings today.")
    parser.add_argument("--ms-per-word", type=float, default=20.0)
    parser.add_argument("--chunk-ms", type=float, default=20.0)
    parser.add_argument("--chunk-delay", type=float, default=0.0)
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    async with (
        FakeGroq(default_reply=args.reply, default_transcript=args.transcript) as groq,
        FakeCartesia(
            ms_per_word=args.ms_per_word, chunk_ms=args.chunk_ms, chunk_delay=args.chunk_delay
        ) as cartesia,
    ):
        print(
            json.dumps({"groq_base_url": groq.base_url, "cartesia_url": cartesia.url}), flush=True
        )
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            if line.strip() == b"stats":
                durations = [r.duration for r in groq.transcription_requests]
                stats = {
                    "chat_requests": len(groq.chat_requests),
                    "transcription_requests": len(groq.transcription_requests),
                    "transcribed_secs": [round(d or 0.0, 3) for d in durations],
                    "groq_protocol_errors": groq.protocol_errors[:5],
                    "cartesia_contexts": len(cartesia.contexts),
                    "cartesia_connections": len(cartesia.connections),
                    "cartesia_protocol_errors": cartesia.protocol_errors[:5],
                }
                print(json.dumps(stats), flush=True)


def main() -> None:
    try:
        asyncio.run(serve(parse_args()))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
