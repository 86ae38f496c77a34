"""HTTP connections to Groq (Whisper and the LLM): kept open across turns, opened before the first.

A request on a new connection first pays the TCP and TLS handshakes, two or three round trips
to Groq, on the path of the reply.
"""

from __future__ import annotations

import asyncio

from loguru import logger
from openai import AsyncOpenAI, DefaultAsyncHttpxClient, Timeout
from pipecat.utils.http import connection_limits

# Connecting to Groq never legitimately takes long; a stuck connect is a network problem.
CONNECT_TIMEOUT_SECS = 5.0


def bounded_timeout(secs: float) -> Timeout:
    """`secs` for every wait for bytes (headers, each streamed chunk); connects get less."""
    return Timeout(secs, connect=min(CONNECT_TIMEOUT_SECS, secs))


def keep_alive_http_client() -> DefaultAsyncHttpxClient:
    """An HTTP client whose idle connections stay open until the server closes them.

    The openai SDK's default closes a connection after 5 s idle, so nearly every turn's
    transcription (a turn and a reply apart) would reconnect. pipecat's LLM client already keeps
    its connections like this.
    """
    return DefaultAsyncHttpxClient(
        limits=connection_limits(
            max_keepalive_connections=100, max_connections=1000, keepalive_expiry=None
        )
    )


async def preconnect(*clients: AsyncOpenAI) -> None:
    """Open each client's connection while the greeting plays, not on the user's first turn.

    Listing models is Groq's cheapest authenticated request. A failure only means the first
    request connects as it would have anyway.
    """
    results = await asyncio.gather(
        *(client.with_options(max_retries=0).models.list() for client in clients),
        return_exceptions=True,
    )
    for result in results:
        if isinstance(result, Exception):
            logger.debug(f"could not open a connection to Groq ahead of time: {result}")
