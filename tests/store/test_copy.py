"""`assistant db copy`: a household's SQLite database moves to another database (PostgreSQL, or
SQLite) with every row, its ids, and ids that go on from there."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from assistant.cli import main
from assistant.store.copy import CopyError, copy_database
from assistant.store.database import Database
from assistant.store.models import Base
from assistant.store.repository import (
    ConversationRepository,
    NoteRepository,
    ReminderRepository,
    UsageRepository,
    UserRepository,
)

from .conftest import sqlite_url

DUE = datetime(2030, 1, 1, 9, 30, tzinfo=UTC)
TOOL_CALLS = [{"id": "c1", "type": "function", "function": {"name": "x", "arguments": "{}"}}]


async def _household(url: str) -> None:
    """A small household: two users, conversations with every kind of message, notes (one
    deleted, so ids have a gap), reminders in each state, usage; a conversation deleted."""
    db = Database(url)
    await db.upgrade()
    try:
        async with db.transaction() as session:
            users = UserRepository(session)
            alice = (await users.get_or_create("alice", "Europe/Paris")).id
            bob = (await users.get_or_create("bob")).id
            for user in (alice, bob):
                conversations = ConversationRepository(session, user)
                gone = await conversations.create()
                conversation = await conversations.create()
                await conversations.append(conversation.id, "user", "Remind me about the café")
                await conversations.append(conversation.id, "assistant", None, TOOL_CALLS)
                await conversations.append(conversation.id, "tool", "ok", tool_call_id="c1")
                await conversations.append(conversation.id, "assistant", "Done", interrupted=True)
                await conversations.append_summary(conversation.id, "asked for a reminder", 2)
                await conversations.set_voice(conversation.id, "happy", 1.2, 0.8)
                await conversations.delete(gone.id)
                notes = NoteRepository(session, user)
                first = await notes.add(f"dentists on Friday ({user})")
                await notes.add("passport in the blue folder")
                await notes.delete(first.id)
                reminders = ReminderRepository(session, user)
                await reminders.add("call mum", DUE, "Europe/Paris", conversation.id)
                said = await reminders.add("water the plants", DUE - timedelta(days=1), "UTC")
                await reminders.mark_delivered(said.id, DUE)
                cancelled = await reminders.add("nothing", DUE, "UTC")
                await reminders.cancel(cancelled.id)
                await UsageRepository(session, user).add(conversation.id, 120, 30, cached_tokens=8)
    finally:
        await db.dispose()


async def _rows(url: str) -> dict[str, list[dict]]:
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            return {
                table.name: [
                    dict(row)
                    for row in (
                        await conn.execute(select(table).order_by(*table.primary_key.columns))
                    ).mappings()
                ]
                for table in Base.metadata.sorted_tables
            }
    finally:
        await db.dispose()


async def test_copy_keeps_every_row_and_ids_go_on(tmp_path: Path, database_url: str) -> None:
    source = sqlite_url(tmp_path / "household.db")
    await _household(source)
    reported = []

    copied = await copy_database(source, database_url, progress=reported.append)

    before, after = await _rows(source), await _rows(database_url)
    assert after == before
    assert {t.name: t.rows for t in copied} == {name: len(rows) for name, rows in before.items()}
    assert reported == copied
    assert len(before["messages"]) == 10 and len(before["reminders"]) == 6

    db = Database(database_url)
    try:
        async with db.transaction() as session:
            alice = (await UserRepository(session).get_by_name("alice")).id
            notes = NoteRepository(session, alice)
            # The search index follows the copied rows (accents and stems as before).
            assert [n.content for n in await notes.search("passports")] == [
                "passport in the blue folder"
            ]
            # New rows go on after the copied ids (PostgreSQL's sequences were moved past them).
            note = await notes.add("after the move")
            assert note.id == max(row["id"] for row in before["notes"]) + 1
            carol = await UserRepository(session).get_or_create("carol")
            assert carol.id == max(row["id"] for row in before["users"]) + 1
    finally:
        await db.dispose()


async def test_copy_refuses_a_target_that_holds_rows(tmp_path: Path, database_url: str) -> None:
    source = sqlite_url(tmp_path / "household.db")
    await _household(source)
    await copy_database(source, database_url)
    target_before = await _rows(database_url)

    with pytest.raises(CopyError, match="already holds rows"):
        await copy_database(source, database_url)
    assert await _rows(database_url) == target_before


async def test_copy_refuses_a_source_behind_the_migrations(
    tmp_path: Path, database_url: str
) -> None:
    source = Database(sqlite_url(tmp_path / "old.db"))
    try:
        await source.upgrade("0001_initial")
    finally:
        await source.dispose()
    with pytest.raises(CopyError, match="assistant db upgrade"):
        await copy_database(source.url, database_url)


def test_db_copy_command(tmp_path: Path, database_url: str, capsys) -> None:
    source = f"sqlite:///{tmp_path / 'household.db'}"  # as people write it: no driver
    asyncio.run(_household(source))

    assert main(["db", "copy", "--from", source, "--to", database_url]) == 0
    out = capsys.readouterr().out
    assert "messages: 10 rows" in out and "each table's count matches the source" in out
    assert asyncio.run(_rows(database_url)) == asyncio.run(_rows(source))

    assert main(["db", "copy", "--from", source, "--to", database_url]) == 1
    assert "Nothing was copied" in capsys.readouterr().err
