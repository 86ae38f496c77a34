"""The web server: our page at /, the JSON API, WebRTC signalling, and the prebuilt UI at /client.

Thin by design: routes validate and delegate to the store and to the session runtime
(`assistant.runtime`), which the app creates and hands to the routes through `app.state`.

Quick to start: importing this module leaves out the voice stack (pipecat, aiortc; see
`assistant.runtime.warmup`) and alembic (see `Database.upgrade_if_behind`); the app warms the
voice stack in the background once it has started.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from assistant.config import Settings
from assistant.runtime.chat import Chat
from assistant.runtime.conversation_leases import conversation_leases
from assistant.runtime.live_sessions import VoiceBots
from assistant.runtime.reminders import ReminderScheduler
from assistant.server import accounts, api, chat, history, rtc
from assistant.server.accounts import SignIn
from assistant.server.hosts import SameOriginWrites, allowed_hosts
from assistant.server.rtc import Signalling
from assistant.server.security import invalid_request
from assistant.server.web_sessions import SessionCookie, WebSessions
from assistant.store.accounts import Passwords
from assistant.store.database import Database
from assistant.store.models import utcnow

if TYPE_CHECKING:
    from pipecat.adapters.llm.schemas.function_schema import FunctionSchema

    from assistant.tools import ToolFactory
    from assistant.tools.base import ToolContext

STATIC_DIR = Path(__file__).parent / "static"
MAX_BODY_BYTES = 256 * 1024
# When to start importing the voice stack after start-up: its import is slow and holds the GIL
# most of the time even in its worker thread (bench/README.md, startup), so late enough not to
# slow uvicorn's first answers, early enough to be done before anyone has opened the page and
# connected. An earlier offer starts the import itself (`VoiceBots.ready`).
WARM_UP_DELAY_SECS = 0.5


def create_app(
    settings: Settings,
    *,
    db: Database | None = None,
    tool_factory: ToolFactory | None = None,
    clock: Callable[[], datetime] = utcnow,
    passwords: Passwords | None = None,
) -> FastAPI:
    """``clock`` (aware UTC datetimes) ages sessions and sign-in failures; ``passwords`` hashes
    and checks them (tests pass cheaper argon2 parameters)."""
    database = db or Database(settings.database_url)
    if tool_factory is None:
        tool_factory = _default_tools

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await database.upgrade_if_behind()
        await app.state.web_sessions.purge()  # the ones that ended while it was off
        app.state.bots.leases = await conversation_leases(
            database, app.state.bots.hand_over_elsewhere
        )
        warm_up = asyncio.get_running_loop().call_later(WARM_UP_DELAY_SECS, app.state.bots.warm_up)
        yield
        warm_up.cancel()
        await app.state.chat.shutdown()
        await app.state.bots.shutdown()
        await app.state.bots.leases.close()
        await app.state.signalling.close()
        await database.dispose()

    # Bodies over the cap get 413, declared or streamed (FastAPI's own limit, for every route).
    app = FastAPI(title="Voice assistant", lifespan=lifespan, max_body_size=MAX_BODY_BYTES)
    app.state.settings = settings
    app.state.db = database
    app.state.web_sessions = WebSessions(database, session_days=settings.session_days, clock=clock)
    app.state.sign_in = SignIn(database, app.state.web_sessions, clock=clock, passwords=passwords)
    # One scheduler checks for due reminders for every live session of the app.
    app.state.reminders = ReminderScheduler(database)
    app.state.bots = VoiceBots(
        settings, database, tool_factory, session_hooks=[app.state.reminders.attach]
    )
    app.state.signalling = Signalling(app.state.bots, settings.ice_server_urls)
    # Typed turns: into the conversation's call, or on a text session of their own.
    app.state.chat = Chat(settings, database, app.state.bots, tool_factory)

    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_middleware(
        SessionCookie, sessions=app.state.web_sessions, required=settings.auth == "password"
    )
    # Added last, so run first: only requests under one of the server's own names get in
    # (DNS rebinding), and then no state-changing one from another site's page.
    app.add_middleware(SameOriginWrites)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(settings))

    app.include_router(accounts.router)
    app.include_router(api.router)
    app.include_router(history.router)
    app.include_router(rtc.router)
    app.include_router(chat.router)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    @app.get("/healthz", include_in_schema=False)
    async def health() -> JSONResponse:
        return JSONResponse({"ok": True, "voice_sessions": app.state.bots.active})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.mount("/client", _prebuilt_ui(), name="client")
    return app


def _default_tools(context: ToolContext) -> list[FunctionSchema]:
    # The registry imports pipecat: resolved per session, after `VoiceBots.warm_up` loaded it.
    from assistant.tools.registry import default_tools

    return default_tools(context)


def _prebuilt_ui() -> StaticFiles:
    # Imported lazily: the package prints while locating its bundle.
    from pipecat_ai_small_webrtc_prebuilt.frontend import SmallWebRTCPrebuiltUI

    return SmallWebRTCPrebuiltUI
