"""A copy of the database is kept before an upgrade changes it; a failed upgrade loses nothing."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.store.database import MIGRATIONS_DIR, Database, MigrationError, script_heads
from assistant.store.repository import NoteRepository, UserRepository

from .conftest import sqlite_url

# Test revisions chain onto whatever our newest migration is.
(HEAD,) = script_heads()


def _migrations(tmp_path: Path, *revisions: tuple[str, str, str]) -> Path:
    """Our migrations plus ``(revision, down_revision, upgrade body)`` scripts after them."""
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    for revision, down, body in revisions:
        (migrations / "versions" / f"{revision}.py").write_text(
            "from alembic import op\n"
            f"revision = {revision!r}\n"
            f"down_revision = {down!r}\n"
            "def upgrade():\n"
            f"{body}"
            "def downgrade():\n"
            "    pass\n"
        )
    return migrations


def _table(name: str) -> str:
    return f"    op.execute('CREATE TABLE {name} (id INTEGER)')\n"


def _copies(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(f"{path.name}.bak"))


def _partial_copies(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".partial")]


def _read(path: Path, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


async def _with_a_note(db: Database) -> None:
    async with db.transaction() as session:
        user = await UserRepository(session).get_or_create("alice")
        await NoteRepository(session, user.id).add("the spare key is under the blue pot")


async def test_upgrade_keeps_a_copy_named_after_the_revision_it_came_from(tmp_path: Path):
    path = tmp_path / "assistant.db"
    db = Database(
        sqlite_url(path),
        migrations_dir=_migrations(tmp_path, ("9001", HEAD, _table("extra"))),
    )
    try:
        await db.upgrade(HEAD)
        await _with_a_note(db)
        assert _copies(path) == []
        # The server's path on start.
        assert await db.upgrade_if_behind() is True
        assert await db.current_revision() == "9001"
    finally:
        await db.dispose()
    assert _copies(path) == [f"assistant.db.bak-{HEAD}"]
    copy = path.with_name(f"assistant.db.bak-{HEAD}")
    assert _read(copy, "SELECT version_num FROM alembic_version") == [(HEAD,)]
    assert _read(copy, "SELECT content FROM notes") == [("the spare key is under the blue pot",)]
    assert _read(copy, "SELECT name FROM sqlite_master WHERE name = 'extra'") == []
    assert _read(copy, "PRAGMA integrity_check") == [("ok",)]
    # One self-contained file, which opening leaves alone (no -wal/-shm beside it).
    assert _read(copy, "PRAGMA journal_mode") == [("delete",)]
    assert _copies(path) == [f"assistant.db.bak-{HEAD}"]


async def test_only_the_newest_three_copies_are_kept(tmp_path: Path):
    path = tmp_path / "assistant.db"
    migrations = _migrations(
        tmp_path,
        ("9001", HEAD, _table("t2")),
        ("9002", "9001", _table("t3")),
        ("9003", "9002", _table("t4")),
        ("9004", "9003", _table("t5")),
    )
    db = Database(sqlite_url(path), migrations_dir=migrations)
    try:
        await db.upgrade(HEAD)
        await _with_a_note(db)
        for revision in ("9001", "9002", "9003", "9004"):
            assert (await db.upgrade(revision)).name.startswith("assistant.db.bak-")
        # At head: nothing to do, so no copy.
        assert await db.upgrade() is None
    finally:
        await db.dispose()
    assert _copies(path) == [
        "assistant.db.bak-9001",
        "assistant.db.bak-9002",
        "assistant.db.bak-9003",
    ]


async def test_a_fresh_database_gets_no_copy(tmp_path: Path):
    path = tmp_path / "assistant.db"
    db = Database(
        sqlite_url(path),
        migrations_dir=_migrations(tmp_path, ("9001", HEAD, _table("extra"))),
    )
    try:
        assert await db.upgrade_if_behind() is True
        assert await db.current_revision() == "9001"
    finally:
        await db.dispose()
    assert _copies(path) == []
    assert _partial_copies(tmp_path) == []


# One that fails inside its transaction, and one that commits half its work before failing
# (which the rollback cannot undo: the copy is put back).
FAILING = {
    "rolled back": _table("scratch") + "    op.execute('DROP TABLE reminders')\n"
    "    raise RuntimeError('boom')\n",
    "half committed": _table("scratch") + "    op.execute('DROP TABLE reminders')\n"
    "    op.get_bind().exec_driver_sql('COMMIT')\n"
    "    raise RuntimeError('boom')\n",
}


@pytest.mark.parametrize("failure", FAILING)
async def test_a_failed_upgrade_leaves_the_data_and_names_the_copy(tmp_path: Path, failure):
    path = tmp_path / "assistant.db"
    migrations = _migrations(tmp_path, ("9001_broken", HEAD, FAILING[failure]))
    db = Database(sqlite_url(path), migrations_dir=migrations)
    try:
        await db.upgrade(HEAD)
        await _with_a_note(db)
        with pytest.raises(MigrationError, match="boom") as raised:
            await db.upgrade()
        copy = path.with_name(f"assistant.db.bak-{HEAD}")
        assert raised.value.backup == copy
        assert str(copy) in str(raised.value)

        # The same engine goes on working on the untouched database.
        assert await db.current_revision() == HEAD
        async with db.transaction() as session:
            user = await UserRepository(session).get_by_name("alice")
            notes = await NoteRepository(session, user.id).search("blue pot")
            assert [note.content for note in notes] == ["the spare key is under the blue pot"]
    finally:
        await db.dispose()
    tables = {name for (name,) in _read(path, "SELECT name FROM sqlite_master")}
    assert "reminders" in tables and "scratch" not in tables
    assert _read(path, "PRAGMA integrity_check") == [("ok",)]
    assert _read(path, "PRAGMA journal_mode") == [("wal",)]


def test_db_upgrade_command_that_fails_names_the_copy_and_keeps_the_data(
    tmp_path, monkeypatch, capsys
):
    # A database with a table of ours but no revision stamp: the first migration cannot create
    # its `users` table, so `assistant db upgrade` fails after keeping a copy.
    path = tmp_path / "cli.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO users (name) VALUES ('alice')")
        conn.commit()
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATABASE_URL", sqlite_url(path))

    assert main(["db", "upgrade"]) == 1
    err = capsys.readouterr().err
    assert str(path.with_name("cli.db.bak-base")) in err
    assert "already exists" in err
    assert _read(path, "SELECT name FROM users") == [("alice",)]
    assert {name for (name,) in _read(path, "SELECT name FROM sqlite_master")} == {"users"}
    assert _copies(path) == ["cli.db.bak-base"]
