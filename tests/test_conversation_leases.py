"""Several server processes on one PostgreSQL: a conversation live on one process moves to
another that opens it, everything said stored first (conversation_leases). Each "process" here
is its own Database (its own connections) on the test's database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from assistant.runtime.conversation_leases import PostgresLeases
from assistant.store.database import Database
from assistant.store.repository import ConversationRepository, UserRepository

pytestmark = pytest.mark.postgresql_only


@pytest.fixture
async def other(db: Database) -> AsyncIterator[Database]:
    """A second process's engine on the same database."""
    database = Database(db.url)
    yield database
    await database.dispose()


async def _leases(db: Database, hand_over, **kwargs) -> PostgresLeases:
    leases = PostgresLeases(db, hand_over, **kwargs)
    await leases.start()
    return leases


async def _conversation(db: Database) -> tuple[int, str]:
    async with db.transaction() as session:
        user = await UserRepository(session).get_or_create("alice")
        return user.id, (await ConversationRepository(session, user.id).create()).id


async def test_a_conversation_opened_on_another_process_is_handed_over_first(db, other):
    user, conversation = await _conversation(db)
    events: list[str] = []

    async def a_hands_over(conversation_id: str) -> None:
        # What A's session said last is stored as it ends (VoiceSession.hand_over).
        async with db.transaction() as session:
            await ConversationRepository(session, user).append(conversation_id, "user", "bye")
        events.append(f"A handed {conversation_id} over")

    async def b_hands_over(conversation_id: str) -> None:
        events.append(f"B handed {conversation_id} over")

    a = await _leases(db, a_hands_over)
    b = await _leases(other, b_hands_over)
    try:
        assert await a.acquire(conversation) is True
        assert await b.acquire(conversation) is True
        async with other.transaction() as session:
            stored = await ConversationRepository(session, user).messages(conversation)
        events.append("B loads it")
        assert [m.content for m in stored] == ["bye"]
        # And back: B holds it now, so A asking makes B hand it over.
        assert await a.acquire(conversation) is True
        assert events == [
            f"A handed {conversation} over",
            "B loads it",
            f"B handed {conversation} over",
        ]
    finally:
        await a.close()
        await b.close()


async def test_a_conversation_ended_on_one_process_is_free_for_another(db, other):
    _, conversation = await _conversation(db)

    async def never(conversation_id: str) -> None:
        raise AssertionError("nobody holds it: no hand-over")

    a, b = await _leases(db, never), await _leases(other, never)
    try:
        assert await a.acquire(conversation)
        await a.release(conversation)
        assert await b.acquire(conversation) is True
    finally:
        await a.close()
        await b.close()


async def test_a_process_that_died_holds_nothing(db, other):
    """Its connection gone, PostgreSQL lets go of its locks: no hand-over, no wait to the bound."""
    _, conversation = await _conversation(db)

    async def never(conversation_id: str) -> None:
        raise AssertionError("the dead process hands nothing over")

    a = await _leases(db, never)
    b = await _leases(other, never, wait_secs=60)
    try:
        assert await a.acquire(conversation)
        async with db.engine.connect() as conn:
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND granted"
                )
            )
        assert await b.acquire(conversation) is True
    finally:
        await b.close()
        await a.close()


async def test_a_holder_that_does_not_answer_is_waited_for_only_so_long(db, other):
    _, conversation = await _conversation(db)
    stuck = asyncio.Event()

    async def hangs(conversation_id: str) -> None:
        await stuck.wait()

    async def never(conversation_id: str) -> None:
        raise AssertionError

    a = await _leases(db, hangs)
    b = await _leases(other, never, wait_secs=0.5)
    try:
        assert await a.acquire(conversation)
        assert await b.acquire(conversation) is False  # goes ahead from what is stored
    finally:
        stuck.set()
        await a.close()
        await b.close()
