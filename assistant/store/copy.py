"""``assistant db copy``: every row of one database into another (SQLite to PostgreSQL, or back).

The target is migrated to the head revision and must hold no rows; the source must be at that
revision too (``assistant db upgrade`` first), so both have the same tables. Rows keep their ids;
PostgreSQL's sequences are then set past the highest, so new rows get new ids. It all happens in
one transaction on the target, and ends by comparing each table's row count with the source's:
anything different and nothing is kept.

Search indexes follow by themselves: SQLite's FTS5 triggers fire on the inserts, PostgreSQL's
GIN indexes are over the rows' text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Table, func, select, text, update
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection

from assistant.store.database import Database, _stamped_revisions, script_heads
from assistant.store.models import Base

# Rows read and written at a time: a household's 100k messages never sit in memory at once.
BATCH_ROWS = 1000


class CopyError(RuntimeError):
    """The copy could not start, or did not match; the target is left as it was."""


@dataclass(frozen=True, slots=True)
class CopiedTable:
    name: str
    rows: int


async def copy_database(
    source_url: str | URL,
    target_url: str | URL,
    *,
    progress: Callable[[CopiedTable], None] | None = None,
) -> list[CopiedTable]:
    """Copy every row of ``source_url`` into ``target_url``; the count copied per table."""
    source, target = Database(source_url), Database(target_url)
    try:
        if source.url == target.url:
            raise CopyError("the source and the target are the same database")
        heads = script_heads(source.migrations_dir)
        async with source.engine.connect() as conn:
            stamped = await conn.run_sync(_stamped_revisions)
        if heads is not None and stamped != heads:
            raise CopyError(
                f"the source is at revision {', '.join(sorted(stamped)) or 'none'}, not "
                f"{', '.join(sorted(heads))}: run `assistant db upgrade` on it first"
            )
        await target.upgrade()
        tables = Base.metadata.sorted_tables  # parents before children
        copied: list[CopiedTable] = []
        async with source.engine.connect() as reader, target.engine.begin() as writer:
            for table in tables:
                if await writer.scalar(select(func.count()).select_from(table)):
                    raise CopyError(f"the target already holds rows (in {table.name}): not copied")
            for table in tables:
                rows = await _copy_table(reader, writer, table)
                copied.append(CopiedTable(table.name, rows))
                if progress is not None:
                    progress(copied[-1])
            if writer.dialect.name == "postgresql":
                await _reset_sequences(writer, tables)
            for table, done in zip(tables, copied, strict=True):
                expected = await reader.scalar(select(func.count()).select_from(table))
                found = await writer.scalar(select(func.count()).select_from(table))
                if not expected == found == done.rows:
                    raise CopyError(
                        f"{table.name}: {expected} rows in the source, {found} in the target: "
                        "nothing was kept"
                    )
        return copied
    finally:
        await source.dispose()
        await target.dispose()


async def _copy_table(reader: AsyncConnection, writer: AsyncConnection, table: Table) -> int:
    # A column that refers to its own table (one row pointing at a newer one) is written once
    # all the table's rows are in, so the order of the rows never breaks the foreign key.
    own = [c for c in table.columns if any(fk.column.table is table for fk in c.foreign_keys)]
    (key,) = table.primary_key.columns
    copied = 0
    later: list[dict] = []
    result = await reader.stream(select(table).order_by(key))
    async for batch in result.mappings().partitions(BATCH_ROWS):
        rows = [dict(row) for row in batch]
        for row in rows:
            refs = {c.name: row[c.name] for c in own if row[c.name] is not None}
            if refs:
                later.append({"_key": row[key.name], **refs})
                row.update(dict.fromkeys(refs))
        await writer.execute(table.insert(), rows)
        copied += len(rows)
    for refs in later:
        row_key = refs.pop("_key")
        await writer.execute(update(table).where(key == row_key).values(refs))
    return copied


async def _reset_sequences(writer: AsyncConnection, tables: list[Table]) -> None:
    """Each serial id's sequence past the highest id copied (rows were written with their ids,
    which does not advance it): the next row gets max + 1, or 1 in an empty table."""
    for table in tables:
        (key,) = table.primary_key.columns
        if not key.autoincrement or key.type.python_type is not int:
            continue
        await writer.execute(
            text(
                "SELECT setval(pg_get_serial_sequence(:table, :column), "
                f"coalesce(max({key.name}), 1), max({key.name}) IS NOT NULL) FROM {table.name}"
            ),
            {"table": table.name, "column": key.name},
        )
