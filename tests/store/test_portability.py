"""What running on PostgreSQL as well as SQLite asks of the store: concurrent transactions that
really overlap (PostgreSQL's row locks, not SQLite's one writer), and text without NUL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from assistant.store.database import Database
from assistant.store.repository import ConversationRepository, ReminderRepository

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


async def _wait_until_blocked_on_a_lock(db: Database, sessions: int = 1) -> None:
    """Until ``sessions`` other connections wait on a row lock (pg_stat_activity says so)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    async with asyncio.timeout(30):
        while True:
            async with db.engine.connect() as conn:
                if await conn.scalar(query) >= sessions:
                    return
            await asyncio.sleep(0.01)


@pytest.mark.postgresql_only
async def test_a_claim_blocked_behind_another_gets_nothing(db: Database, alice: int) -> None:
    """Two sessions claim one due reminder in overlapping transactions: the second waits on the
    first's row lock and, once that commits, finds it claimed (the claim is one UPDATE … WHERE
    claimable RETURNING, re-checked on the row as committed), so it is said once."""
    async with db.transaction() as session:
        reminder = await ReminderRepository(session, alice).add("once", NOW, "UTC")
    until = NOW + timedelta(minutes=1)

    claimed, commit_first = asyncio.Event(), asyncio.Event()

    async def claim(claimed_by: str, *, hold: bool = False) -> bool:
        async with db.transaction() as session:
            reminders = ReminderRepository(session, alice)
            got = await reminders.claim(reminder.id, claimed_by, NOW, until)
            if hold:
                claimed.set()
                await commit_first.wait()  # keeps the transaction (and its row lock) open
            return got

    first = asyncio.create_task(claim("session-a", hold=True))
    await claimed.wait()
    second = asyncio.create_task(claim("session-b"))
    await _wait_until_blocked_on_a_lock(db)
    commit_first.set()
    assert await first is True
    assert await second is False
    async with db.transaction() as session:
        held = await ReminderRepository(session, alice).get(reminder.id)
    assert held.claimed_by == "session-a"


async def test_a_summary_and_an_append_at_once_both_get_a_seq(db: Database, alice: int) -> None:
    """append_summary takes the conversation's lock as append does, so neither loses its seq
    to the other (on PostgreSQL both would read the same max(seq) without it)."""
    async with db.transaction() as session:
        conversations = ConversationRepository(session, alice)
        conversation = await conversations.create()
        for i in range(4):
            await conversations.append(conversation.id, "user", f"line {i}")

    async def summarize() -> None:
        async with db.transaction() as session:
            await ConversationRepository(session, alice).append_summary(
                conversation.id, "four lines", until_seq=4
            )

    async def append(i: int) -> None:
        async with db.transaction() as session:
            await ConversationRepository(session, alice).append(conversation.id, "user", f"x{i}")

    await asyncio.gather(summarize(), *(append(i) for i in range(5)), summarize())
    async with db.transaction() as session:
        rows = await session.execute(
            text("SELECT seq FROM messages WHERE conversation_id = :c ORDER BY seq"),
            {"c": conversation.id},
        )
        assert [seq for (seq,) in rows] == list(range(1, 12))


async def test_a_message_with_nul_is_stored_without_it(db: Database, alice: int) -> None:
    """What was said is never refused: a NUL (which PostgreSQL's text cannot hold) is left out."""
    async with db.transaction() as session:
        conversations = ConversationRepository(session, alice)
        conversation = await conversations.create()
        await conversations.append(conversation.id, "user", "half\x00way")
    async with db.transaction() as session:
        [message] = await ConversationRepository(session, alice).messages(conversation.id)
    assert message.content == "halfway"
