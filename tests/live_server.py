"""The real server, in-process on 127.0.0.1 with an OS-chosen port, for HTTP/WebRTC tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aioice.ice
import uvicorn

from assistant.config import Settings
from assistant.server.app import create_app
from assistant.store.database import Database
from assistant.tools import ToolFactory


def pin_ice_to_loopback(monkeypatch) -> None:
    """aioice never offers 127.0.0.1; in tests every peer lives on loopback, so offer only it."""
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


@contextlib.asynccontextmanager
async def running_server(
    settings: Settings, db: Database, tool_factory: ToolFactory | None = None, **uvicorn_options
) -> AsyncIterator[str]:
    """``uvicorn_options`` go to uvicorn.Config (its log settings, say)."""
    app = create_app(settings, db=db, tool_factory=tool_factory)
    options = {"log_level": "warning", "lifespan": "on"} | uvicorn_options
    config = uvicorn.Config(app, host="127.0.0.1", port=0, **options)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
