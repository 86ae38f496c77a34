import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from assistant.store.database import MIGRATIONS_DIR, Database, script_heads, upgrade_database
from assistant.store.dialects import is_search_object
from assistant.store.models import Base
from assistant.store.repository import NoteRepository, UserRepository

from .conftest import sqlite_url

REPO_ROOT = Path(__file__).resolve().parents[2]
APP_TABLES = {
    "users",
    "conversations",
    "messages",
    "messages_fts",
    "notes",
    "notes_fts",
    "reminders",
    "llm_usage",
    "memories",
}
(HEAD,) = script_heads()


async def _tables(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        names = set(await conn.run_sync(lambda sync_conn: inspect(sync_conn).get_table_names()))
        if db.url.get_backend_name() == "sqlite":
            return names
        # SQLite's search is a table of its own; PostgreSQL's a GIN index on the table searched
        # (ix_notes_content_fts stands for notes_fts).
        indexes = await conn.exec_driver_sql(
            "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'ix\\_%\\_content\\_fts'"
        )
    return names | {name[3:].replace("_content", "") for (name,) in indexes}


async def _pragma(db: Database, name: str) -> object:
    async with db.engine.connect() as conn:
        return (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()


async def test_upgrade_creates_schema_and_parent_directory(tmp_path: Path) -> None:
    path = tmp_path / "does" / "not" / "exist" / "assistant.db"
    db = Database(sqlite_url(path))
    try:
        await db.upgrade()
        assert path.exists()
        assert APP_TABLES <= await _tables(db)
        assert await db.current_revision() == HEAD
    finally:
        await db.dispose()


@pytest.mark.sqlite_only
async def test_pragmas_are_in_effect_on_every_connection(db: Database) -> None:
    # Two simultaneous connections: the listener must run for each, not just the first.
    async with db.engine.connect() as first, db.engine.connect() as second:
        for conn in (first, second):
            assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
            assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 5000
            assert (await conn.exec_driver_sql("PRAGMA synchronous")).scalar() == 1  # NORMAL


@pytest.mark.sqlite_only
async def test_foreign_keys_back_on_after_migrating_with_the_same_engine(db: Database) -> None:
    # env.py turns FKs off for batch migrations on a pooled connection; it must restore them.
    await db.downgrade("base")
    await db.upgrade()
    for _ in range(3):
        assert await _pragma(db, "foreign_keys") == 1


async def test_downgrade_to_base_and_upgrade_again(db: Database, alice: int) -> None:
    await db.downgrade("base")
    assert await db.current_revision() is None
    assert not (APP_TABLES & await _tables(db))

    await db.upgrade()
    assert await db.current_revision() == HEAD
    assert APP_TABLES <= await _tables(db)
    async with db.transaction() as session:
        user = await UserRepository(session).get_or_create("carol")
        notes = NoteRepository(session, user.id)
        await notes.add("the FTS triggers were recreated too")
        assert [n.content for n in await notes.search("triggers")] == [
            "the FTS triggers were recreated too"
        ]


async def test_models_match_migrations(db: Database) -> None:
    def diff(sync_conn):
        context = MigrationContext.configure(
            sync_conn,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                # What the migrations make by hand for full-text search (migrations/env.py).
                "include_object": lambda obj, name, type_, reflected, compare_to: (
                    not is_search_object(name, type_)
                ),
            },
        )
        return compare_metadata(context, Base.metadata)

    async with db.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_failed_migration_is_rolled_back(tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    (head,) = script_heads()
    (migrations / "versions" / "9999_broken.py").write_text(
        "from alembic import op\n"
        "revision = '0002_broken'\n"
        f"down_revision = {HEAD!r}\n"
        "def upgrade():\n"
        "    op.execute('CREATE TABLE scratch (id INTEGER)')\n"
        "    op.execute('DROP TABLE reminders')\n"
        "    raise RuntimeError('boom')\n"
        "def downgrade():\n"
        "    pass\n"
    )
    db = Database(sqlite_url(tmp_path / "a.db"), migrations_dir=migrations)
    try:
        await db.upgrade(HEAD)
        with pytest.raises(RuntimeError, match="boom"):
            await db.upgrade()
        assert await db.current_revision() == HEAD
        tables = await _tables(db)
        assert "scratch" not in tables
        assert "reminders" in tables
        assert await _pragma(db, "foreign_keys") == 1
    finally:
        await db.dispose()


async def test_in_memory_database_is_shared_across_sessions() -> None:
    db = Database("sqlite+aiosqlite://")
    try:
        await db.upgrade()
        async with db.transaction() as session:
            await UserRepository(session).get_or_create("dora")
        async with db.transaction() as session:
            assert await UserRepository(session).get_by_name("dora") is not None
    finally:
        await db.dispose()


def test_upgrade_database_for_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "cli" / "assistant.db"
    upgrade_database(sqlite_url(path))

    async def revision() -> str | None:
        db = Database(sqlite_url(path))
        try:
            return await db.current_revision()
        finally:
            await db.dispose()

    assert asyncio.run(revision()) == HEAD


def test_alembic_cli_from_another_directory(tmp_path: Path) -> None:
    path = tmp_path / "cli.db"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "alembic",
            "-c",
            str(REPO_ROOT / "alembic.ini"),
            "-x",
            f"url={sqlite_url(path)}",
            "upgrade",
            "head",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Running upgrade  -> 0001_initial" in result.stderr


async def test_two_processes_starting_at_once_migrate_once(empty_database_url: str) -> None:
    """Two processes upgrading one empty database at the same moment (two servers starting):
    one migrates, the other waits for it and finds it at head. (Processes: alembic's context
    is one per process.)"""
    script = (
        "import sys; from assistant.store.database import upgrade_database as up; up(sys.argv[1])"
    )
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, empty_database_url, stderr=asyncio.subprocess.PIPE
        )
        for _ in range(2)
    ]
    for process in processes:
        _, err = await process.communicate()
        assert process.returncode == 0, err.decode()[-2000:]
    db = Database(empty_database_url)
    try:
        assert await db.current_revision() == HEAD
        assert APP_TABLES <= await _tables(db)
    finally:
        await db.dispose()
