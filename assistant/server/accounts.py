"""Signing in and out (AUTH=password), and telling the page which mode the server is in.

`POST /api/login` checks a name and password against the store's argon2id hashes and opens a
session (the cookie); failures are throttled per name and per address (`LoginThrottle`).
`GET /api/auth` is public on purpose, and says only the mode and who this browser is signed in
as. Passwords and tokens are never logged; a failed sign-in logs the address, not the name
typed (people type passwords into name fields).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from loguru import logger
from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator

from assistant.server.web_sessions import (
    WebSession,
    WebSessions,
    current_session,
    get_web_sessions,
    optional_session,
)
from assistant.store.accounts import MAX_PASSWORD_CHARS, AccountRepository, Passwords
from assistant.store.database import Database

router = APIRouter(prefix="/api", tags=["accounts"])

# At most this many argon2 checks at once: each takes 64 MiB and a core for a while, and a
# burst of sign-ins must not take the memory or the CPU the voice sessions need.
CONCURRENT_CHECKS = 2


def _utf8(value: str) -> str:
    # JSON can carry a lone surrogate ("\ud800") that UTF-8, the store and argon2 refuse.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode text") from None
    return value


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=MAX_PASSWORD_CHARS)]

    _valid_text = field_validator("user", "password")(_utf8)

    def __repr__(self) -> str:  # never the password, whoever prints this
        return f"LoginRequest(user={self.user!r})"


class LoginResponse(BaseModel):
    user: str


class AuthState(BaseModel):
    auth: Literal["none", "password"]
    user: str | None


class LoginThrottle:
    """Failed sign-ins in the last ``window``: at most ``per_name`` for one name and
    ``per_address`` from one address; beyond that, how long until the oldest ages out.

    Hand-rolled: a few deques in memory, where none of our dependencies limits by a field of a
    request's body. Per process, like the sessions' checks it guards. An attempt counts as a
    failure from the start and is taken back if it succeeds, so parallel attempts can't all
    slip in before the first failure is counted.
    """

    def __init__(
        self,
        clock: Callable[[], datetime],
        *,
        per_name: int = 5,
        per_address: int = 20,
        window: timedelta = timedelta(minutes=15),
        max_keys: int = 10_000,
    ) -> None:
        self._clock = clock
        self._limits = {"name": per_name, "address": per_address}
        self._window = window
        self._max_keys = max_keys
        self._failures: dict[tuple[str, str], deque[datetime]] = {}

    def attempt(self, name: str, address: str) -> tuple[int | None, datetime]:
        """(seconds to wait, when refused; None and the attempt's time, when it may go on)."""
        now = self._clock()
        keys = self._keys(name, address)
        waits = []
        for key in keys:
            failures = self._recent(key, now)
            if len(failures) >= self._limits[key[0]]:
                waits.append(failures[0] + self._window - now)
        if waits:
            return max(1, math.ceil(max(waits).total_seconds())), now
        for key in keys:
            self._failures.setdefault(key, deque()).append(now)
        self._bound(now)
        return None, now

    def succeeded(self, name: str, address: str, at: datetime) -> None:
        """Takes the attempt back; a right password also forgets the name's failures."""
        name_key, address_key = self._keys(name, address)
        self._failures.pop(name_key, None)
        failures = self._failures.get(address_key)
        if failures is not None and at in failures:
            failures.remove(at)

    def _keys(self, name: str, address: str) -> tuple[tuple[str, str], tuple[str, str]]:
        return ("name", name.strip().casefold()), ("address", address)

    def _recent(self, key: tuple[str, str], now: datetime) -> deque[datetime]:
        failures = self._failures.get(key, deque())
        while failures and failures[0] <= now - self._window:
            failures.popleft()
        return failures

    def _bound(self, now: datetime) -> None:
        if len(self._failures) <= self._max_keys:
            return
        for key in list(self._failures):
            if not self._recent(key, now):
                del self._failures[key]
        while len(self._failures) > self._max_keys:  # the oldest keys go first
            del self._failures[next(iter(self._failures))]


class SignIn:
    """What `POST /api/login` needs, made once by the app."""

    def __init__(
        self,
        db: Database,
        sessions: WebSessions,
        *,
        clock: Callable[[], datetime],
        passwords: Passwords | None = None,
        throttle: LoginThrottle | None = None,
    ) -> None:
        self.db = db
        self.sessions = sessions
        self.passwords = passwords or Passwords()
        self.throttle = throttle or LoginThrottle(clock)
        self._checks = asyncio.Semaphore(CONCURRENT_CHECKS)

    async def check(self, name: str, password: str) -> int | None:
        """The user id if ``password`` is theirs; unknown names cost the same as known ones."""
        async with self.db.transaction() as store:
            user = await AccountRepository(store).by_name(name)
        stored = user.password_hash if user is not None else None
        async with self._checks:
            ok = await asyncio.to_thread(self.passwords.verify, stored, password)
        if not ok or user is None:
            return None
        if self.passwords.needs_rehash(stored):  # the hasher's parameters have grown since
            new_hash = await asyncio.to_thread(self.passwords.hash, password)
            async with self.db.transaction() as store:
                await AccountRepository(store).set_password(user.id, new_hash)
        return user.id


def get_sign_in(request: Request) -> SignIn:
    return request.app.state.sign_in


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


@router.get("/auth", response_model=AuthState)
async def auth_state(
    request: Request, session: Annotated[WebSession | None, Depends(optional_session)]
) -> AuthState:
    """Public: whether this server signs people in (AUTH), and as whom this browser is."""
    return AuthState(
        auth=request.app.state.settings.auth,
        user=session.user_name if session is not None else None,
    )


@router.post("/login", response_model=LoginResponse)
async def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    sign_in: Annotated[SignIn, Depends(get_sign_in)],
    previous: Annotated[WebSession | None, Depends(optional_session)],
) -> LoginResponse:
    """Name and password → a session cookie. A wrong password and an unknown name get the
    same 401; too many failures, 429 with Retry-After."""
    if request.app.state.settings.auth != "password":
        raise HTTPException(404, "This server has no accounts (AUTH=none): say who you are.")
    address = request.client.host if request.client else "unknown"
    wait, attempted_at = sign_in.throttle.attempt(body.user, address)
    if wait is not None:
        logger.warning("Sign-in refused from {}: too many failures", address)
        raise HTTPException(
            429, "Too many failed sign-ins. Try again later.", headers={"Retry-After": str(wait)}
        )
    user_id = await sign_in.check(body.user, body.password)
    if user_id is None:
        logger.warning("Failed sign-in from {}", address)
        raise HTTPException(401, "Wrong name or password.")
    sign_in.throttle.succeeded(body.user, address, attempted_at)
    if previous is not None:  # a new session, never the one this browser had
        await sign_in.sessions.end(previous.token)
    token = await sign_in.sessions.open(user_id)
    sign_in.sessions.set_cookie(response, token, secure=_secure(request))
    logger.info("{} signed in from {}", body.user, address)
    return LoginResponse(user=body.user)


@router.post("/logout", status_code=204)
async def logout(
    request: Request,
    session: Annotated[WebSession, Depends(current_session)],
    sessions: Annotated[WebSessions, Depends(get_web_sessions)],
) -> Response:
    """Ends this browser's session on the server (the cookie alone would not)."""
    await sessions.end(session.token)
    response = Response(status_code=204)
    sessions.clear_cookie(response, secure=_secure(request))
    return response
