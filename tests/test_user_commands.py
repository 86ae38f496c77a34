"""`assistant user …`: accounts made, re-passworded, listed and removed with everything of theirs;
and the AUTH setting's defaults."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import MetaData, select, text

from assistant.cli import main
from assistant.config import ConfigError, Settings, load_settings
from assistant.store.accounts import AccountRepository, Passwords, WebSessionRepository
from assistant.store.database import Database
from assistant.store.models import Base
from assistant.store.repository import (
    ConversationRepository,
    NoteRepository,
    ReminderRepository,
    UsageRepository,
    UserRepository,
)

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def test_auth_is_none_on_loopback_and_password_beyond_unless_set():
    assert Settings(_env_file=None).auth == "none"
    assert Settings(_env_file=None, host="localhost").auth == "none"
    assert Settings(_env_file=None, host="::1").auth == "none"
    assert Settings(_env_file=None, host="0.0.0.0").auth == "password"
    assert Settings(_env_file=None, host="192.168.1.20").auth == "password"
    assert Settings(_env_file=None, auth="password").auth == "password"
    assert Settings(_env_file=None, session_days=7).session_days == 7
    with pytest.raises(ConfigError, match="AUTH: .*only on loopback"):
        load_settings(_env_file=None, host="192.168.1.20", auth="none")
    with pytest.raises(ConfigError, match="SESSION_DAYS"):
        load_settings(_env_file=None, session_days=0)


@pytest.fixture
def cli(monkeypatch, tmp_path):
    """Runs `assistant …` on a database of its own; ``stdin`` and the typed answers given."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    for key in ("AUTH", "HOST", "SESSION_DAYS"):
        monkeypatch.delenv(key, raising=False)
    url = f"sqlite+aiosqlite:///{tmp_path / 'users.db'}"
    monkeypatch.setenv("DATABASE_URL", url)

    def run(*argv: str, stdin: str = "", typed: list[str] | None = None, answer: str = "") -> int:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        answers = iter(typed or [])
        monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
        monkeypatch.setattr("builtins.input", lambda prompt="": answer)
        return main(list(argv))

    run.url = url
    return run


def in_store(url: str, work):
    """Runs ``work(store)`` in a unit of work on the CLI's database (the tests are not async:
    `assistant` runs its own event loop)."""

    async def run():
        async with Database(url) as db, db.transaction() as store:
            return await work(store)

    return asyncio.run(run())


def stored_hash(url: str, name: str) -> str | None:
    async def work(store):
        user = await AccountRepository(store).by_name(name)
        return None if user is None else user.password_hash

    return in_store(url, work)


def test_add_asks_twice_and_stores_only_an_argon2id_hash(cli, capsys):
    assert cli("user", "add", "alice", typed=["s3cret-pass", "s3cret-pass"]) == 0
    assert "Added alice" in capsys.readouterr().out
    stored = stored_hash(cli.url, "alice")
    assert stored.startswith("$argon2id$") and "s3cret-pass" not in stored
    assert Passwords().verify(stored, "s3cret-pass")

    assert cli("user", "add", "bob", typed=["s3cret-pass", "s3cret-typo"]) == 1
    assert "differ" in capsys.readouterr().err
    assert stored_hash(cli.url, "bob") is None
    assert cli("user", "add", "bob", "--password-stdin", stdin="short\n") == 1
    assert "at least 8" in capsys.readouterr().err
    assert cli("user", "add", "alice", "--password-stdin", stdin="another-pass\n") == 1
    assert "passwd" in capsys.readouterr().err  # exists: says how to change it


def test_passwd_changes_the_password_and_signs_out_everywhere(cli, capsys):
    assert cli("user", "add", "alice", "--password-stdin", stdin="first-pass\n") == 0

    async def sign_in(store):
        alice = await AccountRepository(store).by_name("alice")
        await WebSessionRepository(store).create(alice.id, now=NOW)

    in_store(cli.url, sign_in)
    assert cli("user", "passwd", "alice", "--password-stdin", stdin="second-pass\r\n") == 0
    assert "signed out of 1" in capsys.readouterr().out
    stored = stored_hash(cli.url, "alice")
    assert Passwords().verify(stored, "second-pass") and not Passwords().verify(
        stored, "first-pass"
    )
    [alice] = in_store(cli.url, lambda store: AccountRepository(store).list())
    assert alice.sessions == 0
    assert cli("user", "passwd", "nobody", "--password-stdin", stdin="second-pass\n") == 1


def test_list_shows_who_can_sign_in(cli, capsys):
    assert cli("user", "list") == 0
    assert "No users yet" in capsys.readouterr().out
    assert cli("user", "add", "alice", "--password-stdin", stdin="alice-pass\n") == 0
    in_store(cli.url, lambda store: UserRepository(store).get_or_create("bob"))  # AUTH=none's
    capsys.readouterr()
    assert cli("user", "list") == 0
    alice, bob = capsys.readouterr().out.splitlines()
    assert alice.startswith("alice") and "password set" in alice
    assert bob.startswith("bob") and "no password" in bob


async def populate(db: Database, name: str) -> int:
    """A row of this user's in every table there is (checked below against the schema)."""
    async with db.transaction() as store:
        user = await UserRepository(store).get_or_create(name)
        conversations = ConversationRepository(store, user.id)
        conversation = await conversations.create()
        await conversations.append(conversation.id, "user", f"{name} said a secret")
        await NoteRepository(store, user.id).add(f"{name}'s note about lockers")
        await ReminderRepository(store, user.id).add(
            f"{name}'s reminder", NOW + timedelta(days=1), "UTC", conversation_id=conversation.id
        )
        await UsageRepository(store, user.id).add(conversation.id, 100, 10, at=NOW)
        await WebSessionRepository(store).create(user.id, now=NOW, conversation_id=conversation.id)
        return user.id


async def rows_of(
    db: Database, user_id: int, conversation_ids: set[str], name: str
) -> dict[str, int]:
    """Rows of every table that point at the user or at one of their conversations."""
    metadata = MetaData()
    found = {}
    async with db.engine.connect() as conn:
        await conn.run_sync(metadata.reflect)
        for table in metadata.sorted_tables:
            for column in table.columns:
                for key in column.foreign_keys:
                    target = (key.column.table.name, key.column.name)
                    if target == ("users", "id"):
                        values = {user_id}
                    elif target == ("conversations", "id"):
                        values = conversation_ids
                    else:
                        continue
                    count = (
                        await conn.execute(
                            select(text("count(*)")).select_from(table).where(column.in_(values))
                        )
                    ).scalar()
                    found[f"{table.name}.{column.name}"] = count
            if table.name == "users":
                found["users"] = (
                    await conn.execute(
                        select(text("count(*)")).select_from(table).where(table.c.id == user_id)
                    )
                ).scalar()
        # The notes' full-text index is kept by triggers, not by a foreign key.
        found["notes_fts"] = (
            await conn.execute(
                text("SELECT count(*) FROM notes_fts WHERE notes_fts MATCH :name"), {"name": name}
            )
        ).scalar()
    return found


def test_remove_deletes_every_row_of_the_user_and_nobody_elses(cli, capsys):
    async def setup():
        async with Database(cli.url) as db:
            await db.upgrade()
            ids = await populate(db, "alice"), await populate(db, "bob")
            async with db.transaction() as store:
                conversations = [
                    {c.id for c in await ConversationRepository(store, user_id).list()}
                    for user_id in ids
                ]
            return ids, conversations, await rows_of(db, ids[0], conversations[0], "alice")

    async def rows(user_id, conversations, name):
        async with Database(cli.url) as db:
            return await rows_of(db, user_id, conversations, name)

    (alice, bob), (alice_conversations, bob_conversations), before = asyncio.run(setup())
    # Every table that refers to users or conversations had a row of alice's.
    tables_with_users = {
        f"{t.name}.{c.name}"
        for t in Base.metadata.sorted_tables
        for c in t.columns
        for k in c.foreign_keys
        if k.column.table.name in ("users", "conversations")
    }
    assert tables_with_users <= set(before)
    assert all(before.values()), before

    assert cli("user", "remove", "alice", answer="n") == 1  # not confirmed: nothing deleted
    assert asyncio.run(rows(alice, alice_conversations, "alice")) == before
    assert cli("user", "remove", "alice", answer="y") == 0
    assert "Deleted alice" in capsys.readouterr().out
    after = asyncio.run(rows(alice, alice_conversations, "alice"))
    assert after == {name: 0 for name in before}, after
    bobs = asyncio.run(rows(bob, bob_conversations, "bob"))
    assert bobs == {name: 1 for name in before}  # bob's are all there
    assert cli("user", "remove", "bob", "--yes") == 0
    assert cli("user", "remove", "bob", "--yes") == 1  # gone already


async def test_every_reference_to_a_user_cascades_in_the_migrated_schema(tmp_path):
    """A table added later with a user_id that doesn't cascade would keep a removed user's
    rows (or block the removal): checked on the schema the migrations make, not the models."""
    async with Database(f"sqlite+aiosqlite:///{tmp_path / 'schema.db'}") as db:
        await db.upgrade()
        async with db.engine.connect() as conn:
            tables = [
                row[0]
                for row in await conn.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type = 'table'"
                )
            ]
            references = []
            for table in tables:
                for row in await conn.exec_driver_sql(f"PRAGMA foreign_key_list('{table}')"):
                    _, _, parent, column, _, _, on_delete, _ = row
                    if parent == "users":
                        references.append((table, column, on_delete))
    assert {(t, c) for t, c, _ in references} >= {
        ("conversations", "user_id"),
        ("notes", "user_id"),
        ("reminders", "user_id"),
        ("llm_usage", "user_id"),
        ("web_sessions", "user_id"),
    }
    assert {on_delete for _, _, on_delete in references} == {"CASCADE"}, references


def test_the_cli_never_prints_the_password(cli, capsys):
    assert cli("user", "add", "alice", typed=["hunter2-hunter2", "hunter2-hunter2"]) == 0
    assert cli("user", "passwd", "alice", "--password-stdin", stdin="hunter3-hunter3\n") == 0
    assert cli("user", "list") == 0
    captured = capsys.readouterr()
    assert "hunter" not in captured.out + captured.err
