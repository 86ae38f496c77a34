"""Accounts: users' passwords (argon2id) and browsers' sessions (web_sessions).

Knows no web and no pipecat: the server's sign-in routes and the `assistant user` commands
both use it. Repositories flush and never commit; callers use `Database.transaction()`.

A session's token is given to the browser once and only its SHA-256 is stored: the token is
random (32 bytes), so a fast hash is enough, and a copy of the database signs no one in.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.store.models import User, WebSessionRow

TOKEN_BYTES = 32
MAX_PASSWORD_CHARS = 1024


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class Passwords:
    """argon2id hashes (argon2-cffi; its defaults are RFC 9106's low-memory profile).

    Slow and memory-hungry by design: call `hash` and `verify` off the event loop. `verify`
    compares in constant time (libargon2), and a user without a hash (unknown, or never given
    a password) is checked against a dummy hash, so that answer costs the same as a real one.
    """

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()

    @cached_property
    def _dummy(self) -> str:
        return self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        try:
            matches = self._hasher.verify(stored or self._dummy, password)
        except (VerificationError, InvalidHashError, ValueError):
            # ValueError: text UTF-8 can't encode (a lone surrogate from JSON's \\ud800).
            return False
        return matches and stored is not None

    def needs_rehash(self, stored: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored)
        except (InvalidHashError, ValueError):
            return True


class UserExistsError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    created_at: datetime
    has_password: bool
    sessions: int


class AccountRepository:
    """Users as accounts: add one with a password hash, change it, list, remove."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def by_name(self, name: str) -> User | None:
        stmt = select(User).where(User.name == name).execution_options(populate_existing=True)
        return await self._session.scalar(stmt)

    async def add(self, name: str, password_hash: str) -> User:
        name = name.strip()
        if not name:
            raise ValueError("a user name must not be empty")
        if await self.by_name(name) is not None:
            raise UserExistsError(f"user {name!r} exists")
        user = User(name=name, password_hash=password_hash)
        self._session.add(user)
        try:
            await self._session.flush()
        except IntegrityError:  # added by another process meanwhile
            raise UserExistsError(f"user {name!r} exists") from None
        return user

    async def set_password(self, user_id: int, password_hash: str) -> None:
        await self._session.execute(
            update(User).where(User.id == user_id).values(password_hash=password_hash)
        )
        await self._session.flush()

    async def list(self) -> list[Account]:
        sessions = (
            select(func.count())
            .where(WebSessionRow.user_id == User.id)
            .correlate(User)
            .scalar_subquery()
        )
        rows = await self._session.execute(
            select(User.name, User.created_at, User.password_hash.is_not(None), sessions).order_by(
                User.name
            )
        )
        return [Account(name, created, bool(has), count) for name, created, has, count in rows]

    async def remove(self, name: str) -> bool:
        """The user and everything of theirs: every table's user_id cascades (so do their
        conversations' messages, and the notes' full-text index through its triggers)."""
        result = await self._session.execute(delete(User).where(User.name == name))
        await self._session.flush()
        return bool(result.rowcount)


@dataclass(frozen=True, slots=True)
class SessionRecord:
    user_id: int
    user_name: str
    timezone: str
    conversation_id: str | None
    created_at: datetime
    last_used_at: datetime
    # True when this lookup moved last_used_at (the cookie's lifetime can be renewed with it).
    touched: bool = False


class WebSessionRepository:
    """Browsers' sessions. A session unused for ``max_idle`` has ended: a lookup deletes it."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def create(
        self, user_id: int, *, now: datetime, conversation_id: str | None = None
    ) -> str:
        """A new session; returns its token, which is stored only as its hash."""
        token = new_token()
        self._session.add(
            WebSessionRow(
                token_hash=hash_token(token),
                user_id=user_id,
                conversation_id=conversation_id,
                created_at=now,
                last_used_at=now,
            )
        )
        await self._session.flush()
        return token

    async def find(
        self, token: str, *, now: datetime, max_idle: timedelta, touch_after: timedelta
    ) -> SessionRecord | None:
        """The session of ``token`` if it has not ended; its last use is moved to ``now`` when
        the stored one is older than ``touch_after`` (not a write on every request)."""
        key = hash_token(token)
        row = (
            await self._session.execute(
                select(WebSessionRow, User.name, User.timezone)
                .join(User, User.id == WebSessionRow.user_id)
                .where(WebSessionRow.token_hash == key)
            )
        ).first()
        if row is None:
            return None
        stored, user_name, timezone = row
        if now - stored.last_used_at >= max_idle:
            await self.end(token)
            return None
        touched = now - stored.last_used_at >= touch_after
        if touched:
            await self._session.execute(
                update(WebSessionRow)
                .where(WebSessionRow.token_hash == key)
                .values(last_used_at=now)
            )
            await self._session.flush()
        return SessionRecord(
            user_id=stored.user_id,
            user_name=user_name,
            timezone=timezone,
            conversation_id=stored.conversation_id,
            created_at=stored.created_at,
            last_used_at=now if touched else stored.last_used_at,
            touched=touched,
        )

    async def choose_conversation(self, token: str, conversation_id: str | None) -> bool:
        result = await self._session.execute(
            update(WebSessionRow)
            .where(WebSessionRow.token_hash == hash_token(token))
            .values(conversation_id=conversation_id)
        )
        await self._session.flush()
        return bool(result.rowcount)

    async def end(self, token: str) -> bool:
        result = await self._session.execute(
            delete(WebSessionRow).where(WebSessionRow.token_hash == hash_token(token))
        )
        await self._session.flush()
        return bool(result.rowcount)

    async def end_all(self, user_id: int) -> int:
        """Every session of a user (a new password signs out every browser)."""
        result = await self._session.execute(
            delete(WebSessionRow).where(WebSessionRow.user_id == user_id)
        )
        await self._session.flush()
        return result.rowcount

    async def purge(self, *, now: datetime, max_idle: timedelta) -> int:
        """Delete every session that has ended by ``now``."""
        result = await self._session.execute(
            delete(WebSessionRow).where(WebSessionRow.last_used_at <= now - max_idle)
        )
        await self._session.flush()
        return result.rowcount
