"""Every migration keeps the data: from each earlier revision, populated, up to head; on each
backend."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, func, insert, select

from assistant.store.database import Database, alembic_config

REVISIONS = [
    rev.revision
    for rev in reversed(list(ScriptDirectory.from_config(alembic_config()).walk_revisions()))
]
_counter = itertools.count(1)


def _value(column):
    """A plausible value for any column, so rows can be made at any revision's schema."""
    if column.foreign_keys or (column.primary_key and column.autoincrement is True):
        return None
    try:
        kind = column.type.python_type
    except NotImplementedError:
        kind = str
    n = next(_counter)
    if column.name == "role":
        return "user"
    if column.name == "kind":
        return "message"
    if column.name == "status":
        return "pending"
    if column.name == "timezone":
        return "UTC"
    if column.name == "emotion":
        return "neutral"
    if kind is bool:
        return False
    if kind is int:
        return n
    if kind is float:
        return 1.0
    if kind is datetime:
        return datetime(2025, 1, 1, tzinfo=UTC)
    if kind in (dict, list):
        return None
    return f"value {n}"


async def _populate(db: Database) -> dict[str, int]:
    """Insert a few rows into every table of the current schema, parents before children."""
    metadata = MetaData()
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.reflect)
        ids: dict[str, list] = {}
        for table in metadata.sorted_tables:
            if table.name.startswith(("alembic", "notes_fts", "messages_fts")):
                continue
            for _ in range(3):
                row = {}
                for column in table.columns:
                    value = _value(column)
                    if column.foreign_keys:
                        parent = next(iter(column.foreign_keys)).column.table.name
                        value = ids[parent][0] if ids.get(parent) else None
                    if column.name == "id" and str(column.type) in ("VARCHAR(32)", "VARCHAR"):
                        value = f"{table.name[:4]}{next(_counter):028d}"  # 32 characters
                    if value is not None:
                        row[column.name] = value
                (key,) = table.primary_key.columns
                result = await conn.execute(insert(table).values(row).returning(key))
                ids.setdefault(table.name, []).append(result.scalar_one())
        counts = {}
        for table in metadata.sorted_tables:
            if table.name.startswith(("alembic", "notes_fts", "messages_fts")):
                continue
            count = select(func.count()).select_from(table)
            counts[table.name] = (await conn.execute(count)).scalar()
    return counts


@pytest.mark.parametrize("start", ["base", *REVISIONS[:-1]])
async def test_upgrade_from_every_earlier_revision_keeps_every_row(empty_database_url, start):
    db = Database(empty_database_url)
    try:
        if start != "base":
            await db.upgrade(start)
        before = await _populate(db) if start != "base" else {}
        await db.upgrade("head")
        after = await _populate(db)
        for table, count in before.items():
            assert after[table] >= count + 3, f"{table} lost rows upgrading from {start}"
        if db.url.get_backend_name() == "sqlite":  # PostgreSQL checks its constraints always
            async with db.engine.connect() as conn:
                assert (await conn.exec_driver_sql("PRAGMA integrity_check")).scalar() == "ok"
                assert (await conn.exec_driver_sql("PRAGMA foreign_key_check")).fetchall() == []
    finally:
        await db.dispose()


async def test_newest_revision_downgrades_and_upgrades_again(empty_database_url):
    db = Database(empty_database_url)
    try:
        await db.upgrade("head")
        await _populate(db)
        await db.downgrade("-1")
        assert await db.current_revision() == (REVISIONS[-2] if len(REVISIONS) > 1 else None)
        await db.upgrade("head")
        assert await db.current_revision() == REVISIONS[-1]
        await _populate(db)
    finally:
        await db.dispose()
