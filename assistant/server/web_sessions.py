"""Who is talking in which browser: an HttpOnly cookie naming a server-side selection."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request

COOKIE_NAME = "assistant_session"


@dataclass
class WebSession:
    token: str
    user_id: int
    user_name: str
    conversation_id: str
    timezone: str


class WebSessions:
    """In-memory selections; a restart only asks the page to choose the user again."""

    def __init__(self) -> None:
        self._by_token: dict[str, WebSession] = {}

    def save(self, session: WebSession) -> None:
        self._by_token[session.token] = session

    def new_token(self) -> str:
        return secrets.token_urlsafe(24)

    def get(self, token: str | None) -> WebSession | None:
        return self._by_token.get(token) if token else None

    def retire(self, token: str | None) -> None:
        """Forget a selection its browser has replaced (the cookie now names another)."""
        if token:
            self._by_token.pop(token, None)

    def conversations_of(self, user_id: int) -> set[str]:
        """The conversations the user's browsers are in."""
        return {s.conversation_id for s in self._by_token.values() if s.user_id == user_id}


def get_web_sessions(request: Request) -> WebSessions:
    return request.app.state.web_sessions


def current_session(
    request: Request, sessions: Annotated[WebSessions, Depends(get_web_sessions)]
) -> WebSession:
    session = sessions.get(request.cookies.get(COOKIE_NAME))
    if session is None:
        raise HTTPException(401, "No session: POST /api/session first to say who is talking.")
    return session
