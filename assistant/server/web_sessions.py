"""Who is talking in which browser: an HttpOnly cookie naming a session kept in the store
(`assistant.store.accounts`), so a restart keeps people signed in.

`SessionCookie` (middleware) reads the cookie of every API and WebRTC request once: the session
goes into the request's state for the routes (`current_session`), and with AUTH=password a
request without one gets 401 before any route runs, except the public `PUBLIC_PATHS`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.store.accounts import WebSessionRepository
from assistant.store.database import Database

COOKIE_NAME = "assistant_session"
STATE_KEY = "web_session"
# How stale a session's stored last use may get before a request moves it (and renews the
# cookie): a write every request would compete with the voice sessions' writes for nothing.
TOUCH_EVERY = timedelta(hours=1)
# Answered without a session: sign-in, and the page asking whether it needs to sign in.
PUBLIC_PATHS = frozenset({"/api/login", "/api/auth"})


def needs_session(path: str) -> bool:
    """The JSON API and the WebRTC signalling (ours and the prebuilt UI's)."""
    return path.startswith(("/api/", "/sessions/")) or path == "/start"


@dataclass(frozen=True)
class WebSession:
    token: str
    user_id: int
    user_name: str
    conversation_id: str | None  # None until the page picks one
    timezone: str


class WebSessions:
    """Opening, finding and ending browser sessions: in the caller's unit of work (``store``)
    when it writes rows these refer to, else each in one of its own."""

    def __init__(self, db: Database, *, session_days: int, clock: Callable[[], datetime]):
        self._db = db
        self.max_idle = timedelta(days=session_days)
        self._clock = clock

    @asynccontextmanager
    async def _unit(self, store: AsyncSession | None) -> AsyncIterator[AsyncSession]:
        if store is not None:
            yield store
        else:
            async with self._db.transaction() as own:
                yield own

    async def open(
        self,
        user_id: int,
        conversation_id: str | None = None,
        *,
        store: AsyncSession | None = None,
    ) -> str:
        async with self._unit(store) as unit:
            return await WebSessionRepository(unit).create(
                user_id, now=self._clock(), conversation_id=conversation_id
            )

    async def find(self, token: str | None) -> tuple[WebSession | None, bool]:
        """The session of a cookie's token, and whether its last use was just moved."""
        if not token:
            return None, False
        async with self._db.transaction() as store:
            record = await WebSessionRepository(store).find(
                token, now=self._clock(), max_idle=self.max_idle, touch_after=TOUCH_EVERY
            )
        if record is None:
            return None, False
        session = WebSession(
            token=token,
            user_id=record.user_id,
            user_name=record.user_name,
            conversation_id=record.conversation_id,
            timezone=record.timezone,
        )
        return session, record.touched

    async def choose(
        self, token: str, conversation_id: str, *, store: AsyncSession | None = None
    ) -> None:
        async with self._unit(store) as unit:
            await WebSessionRepository(unit).choose_conversation(token, conversation_id)

    async def end(self, token: str, *, store: AsyncSession | None = None) -> bool:
        async with self._unit(store) as unit:
            return await WebSessionRepository(unit).end(token)

    async def purge(self) -> int:
        async with self._db.transaction() as store:
            return await WebSessionRepository(store).purge(
                now=self._clock(), max_idle=self.max_idle
            )

    def set_cookie(self, response: Response, token: str, *, secure: bool) -> None:
        # SameSite=Strict: no other site's page can make the browser send it (no CSRF).
        response.set_cookie(
            COOKIE_NAME,
            token,
            max_age=int(self.max_idle.total_seconds()),
            httponly=True,
            samesite="strict",
            secure=secure,
            path="/",
        )

    @staticmethod
    def clear_cookie(response: Response, *, secure: bool) -> None:
        response.delete_cookie(COOKIE_NAME, httponly=True, samesite="strict", secure=secure)


class SessionCookie:
    """Resolves the session cookie of API and WebRTC requests into the request's state; with
    ``required`` (AUTH=password) answers 401 for those without one, public paths aside."""

    def __init__(self, app: ASGIApp, sessions: WebSessions, required: bool):
        self.app = app
        self.sessions = sessions
        self.required = required

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not needs_session(scope["path"]):
            return await self.app(scope, receive, send)
        token = HTTPConnection(scope).cookies.get(COOKIE_NAME)
        session, touched = await self.sessions.find(token)
        if session is None and self.required and scope["path"] not in PUBLIC_PATHS:
            body = json.dumps({"detail": "Not signed in."}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        scope.setdefault("state", {})[STATE_KEY] = session
        if not touched:
            return await self.app(scope, receive, send)

        # In use: the cookie's lifetime starts again with the session's.
        renewed = Response()
        self.sessions.set_cookie(renewed, session.token, secure=scope.get("scheme") == "https")
        cookie = [(k, v) for k, v in renewed.raw_headers if k == b"set-cookie"]

        async def renew(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                if not any(k.lower() == b"set-cookie" for k, _ in headers):
                    headers.extend(cookie)
            await send(message)

        await self.app(scope, receive, renew)


def get_web_sessions(request: Request) -> WebSessions:
    return request.app.state.web_sessions


def optional_session(request: Request) -> WebSession | None:
    """The request's session as `SessionCookie` found it, or None."""
    return request.scope.get("state", {}).get(STATE_KEY)


def current_session(
    session: Annotated[WebSession | None, Depends(optional_session)],
) -> WebSession:
    if session is None:
        raise HTTPException(401, "No session: sign in, or POST /api/session to say who is talking.")
    return session
