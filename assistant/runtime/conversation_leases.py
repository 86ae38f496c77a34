"""Which server process a conversation is live on, when several share one PostgreSQL.

Within one process `VoiceBots` hands a conversation over from its old session to the new one.
Across processes PostgreSQL does the bookkeeping, with nothing of our own to keep: a process
holds a session-level advisory lock per conversation live on it (on one connection kept for
this), so the lock is let go by itself if the process dies. A process opening a conversation
another one holds asks for it on a ``LISTEN``/``NOTIFY`` channel; the holder hands it over (its
session ends, everything said stored), unlocks and says so on a second channel. The new session
starts once it got the lock, or after ``HAND_OVER_WAIT_SECS`` anyway, from what is stored (as a
hand-over within a process does when the old session is slow to end).

On SQLite there is one process: `LocalLeases` grants everything at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from loguru import logger

from assistant.store.database import Database

# Longer than a session takes to hand over (VoiceSession.hand_over's own bound, 5 s).
HAND_OVER_WAIT_SECS = 10.0
# Between tries for the lock while waiting (besides each "released" notice): a holder that
# died sends none, its lock just goes.
RETRY_SECS = 0.5
WANTED = "assistant_conversation_wanted"
RELEASED = "assistant_conversation_released"

HandOver = Callable[[str], Awaitable[None]]


class ConversationLeases(Protocol):
    async def acquire(self, conversation_id: str) -> bool:
        """Hold ``conversation_id`` for this process, once whoever held it has handed it over.
        False if the wait ran out (the session goes ahead from what is stored)."""
        ...

    async def release(self, conversation_id: str) -> None:
        """Its session here ended: let another process have it."""
        ...

    async def close(self) -> None: ...


class LocalLeases:
    """One process (SQLite): nobody else can hold a conversation."""

    async def acquire(self, conversation_id: str) -> bool:
        return True

    async def release(self, conversation_id: str) -> None:
        return None

    async def close(self) -> None:
        return None


def lock_key(conversation_id: str) -> int:
    """The conversation's advisory lock key: 64 bits of its SHA-256, signed as bigint is."""
    digest = hashlib.sha256(f"assistant.conversation:{conversation_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresLeases:
    """Conversations held by this process, as advisory locks on one dedicated connection."""

    def __init__(self, db: Database, hand_over: HandOver, wait_secs: float = HAND_OVER_WAIT_SECS):
        """``hand_over(conversation_id)`` ends the conversation's session here and returns once
        everything said in it is stored (another process wants it)."""
        self._db = db
        self._hand_over = hand_over
        self._wait_secs = wait_secs
        self._held: set[str] = set()
        self._released: dict[str, asyncio.Event] = {}
        self._handing_over: set[asyncio.Task[None]] = set()
        self._conn: Any = None  # the SQLAlchemy AsyncConnection kept open
        self._driver: Any = None  # its asyncpg connection
        # asyncpg runs one query at a time per connection.
        self._query = asyncio.Lock()

    async def start(self) -> None:
        self._conn = await self._db.engine.connect()
        raw = await self._conn.get_raw_connection()
        self._driver = raw.driver_connection
        await self._driver.add_listener(WANTED, self._on_wanted)
        await self._driver.add_listener(RELEASED, self._on_released)

    async def _fetch(self, query: str, *args: Any) -> Any:
        async with self._query:
            return await self._driver.fetchval(query, *args)

    async def _try_lock(self, conversation_id: str) -> bool:
        return await self._fetch("SELECT pg_try_advisory_lock($1)", lock_key(conversation_id))

    async def acquire(self, conversation_id: str) -> bool:
        if conversation_id in self._held:
            return True  # live here: VoiceBots hands it over within the process
        released = self._released.setdefault(conversation_id, asyncio.Event())
        try:
            if await self._try_lock(conversation_id):
                self._held.add(conversation_id)
                return True
            logger.info(f"conversation {conversation_id} is live on another process: asking")
            await self._fetch("SELECT pg_notify($1, $2)", WANTED, conversation_id)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self._wait_secs
            while loop.time() < deadline:
                released.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(released.wait(), min(RETRY_SECS, self._wait_secs))
                if await self._try_lock(conversation_id):
                    self._held.add(conversation_id)
                    return True
                if released.is_set():  # a third process took it meanwhile: ask that one
                    await self._fetch("SELECT pg_notify($1, $2)", WANTED, conversation_id)
            logger.warning(
                f"conversation {conversation_id} was not handed over in {self._wait_secs:g} s; "
                "going ahead from what is stored"
            )
            return False
        finally:
            if self._released.get(conversation_id) is released:
                del self._released[conversation_id]

    async def release(self, conversation_id: str) -> None:
        if conversation_id not in self._held:
            return
        self._held.discard(conversation_id)
        try:
            await self._fetch("SELECT pg_advisory_unlock($1)", lock_key(conversation_id))
            await self._fetch("SELECT pg_notify($1, $2)", RELEASED, conversation_id)
        except Exception:  # the connection is gone: so is the lock
            logger.exception(f"couldn't let go of conversation {conversation_id}")

    def _on_wanted(self, _conn: Any, _pid: int, _channel: str, conversation_id: str) -> None:
        if conversation_id in self._held:
            task = asyncio.create_task(self._give(conversation_id), name="hand-over-elsewhere")
            self._handing_over.add(task)
            task.add_done_callback(self._handing_over.discard)

    async def _give(self, conversation_id: str) -> None:
        try:
            await self._hand_over(conversation_id)
        except Exception:  # it goes to the other process all the same
            logger.exception(f"handing conversation {conversation_id} over failed")
        await self.release(conversation_id)

    def _on_released(self, _conn: Any, _pid: int, _channel: str, conversation_id: str) -> None:
        released = self._released.get(conversation_id)
        if released is not None:
            released.set()

    async def close(self) -> None:
        for task in list(self._handing_over):
            task.cancel()
        await asyncio.gather(*self._handing_over, return_exceptions=True)
        if self._conn is not None:
            # Closed, not put back in the pool: that lets go of every lock it holds and its
            # LISTENs (a pooled connection would keep both).
            await self._conn.invalidate()
            await self._conn.close()
            self._conn = self._driver = None
        self._held.clear()


async def conversation_leases(db: Database, hand_over: HandOver) -> ConversationLeases:
    """The leases for ``db``: advisory locks on PostgreSQL, none needed on SQLite."""
    if db.url.get_backend_name() != "postgresql":
        return LocalLeases()
    leases = PostgresLeases(db, hand_over)
    await leases.start()
    return leases
