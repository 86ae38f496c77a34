"""Browsers on one in-process app, for the API tests: each client keeps its own cookies."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx


@asynccontextmanager
async def browsers(app: Any, **options: Any) -> AsyncIterator[Callable[[], httpx.AsyncClient]]:
    """Yields a maker of clients (one per browser) on ``app``; all are closed at the end."""
    transport = httpx.ASGITransport(app=app)
    clients: list[httpx.AsyncClient] = []

    def client() -> httpx.AsyncClient:
        made = httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", **options)
        clients.append(made)
        return made

    try:
        yield client
    finally:
        for made in clients:
            await made.aclose()
