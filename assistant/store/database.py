"""Engine/session wiring and programmatic alembic migrations.

alembic (slow to import, with mako: bench/README.md, startup) is imported only when a migration
actually runs: on a normal start the database is already at head, which
`Database.upgrade_if_behind` checks by reading the revision ids from the migration scripts and
the ``alembic_version`` table.

Before an upgrade changes a SQLite file that holds data, a copy of it is kept next to it
(``<name>.bak-<from revision>``, the newest three); a failed upgrade leaves the database as it
was and says where that copy is.
"""

from __future__ import annotations

import ast
import asyncio
import logging
import os
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, inspect
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import StaticPool

if TYPE_CHECKING:
    from alembic.config import Config

# Top-level migrations/ lives next to the package in the source tree; resolve it from here so
# upgrades work from any working directory.
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"

# aiosqlite logs every statement with its parameters at DEBUG (a password typed into the name
# field, a note's text): never that, whoever turns the standard library's logging up.
logging.getLogger("aiosqlite").setLevel(logging.INFO)

SQLITE_PRAGMAS = (
    # WAL: readers don't block the writer (API reads while the voice pipeline appends).
    "PRAGMA journal_mode=WAL",
    # SQLite ignores FOREIGN KEY clauses (and our ON DELETE CASCADEs) unless asked per connection.
    "PRAGMA foreign_keys=ON",
    # Wait for the write lock instead of failing with "database is locked".
    "PRAGMA busy_timeout=5000",
    # Durable across application crashes in WAL mode; only an OS crash can lose the last commit.
    "PRAGMA synchronous=NORMAL",
)


# The async driver for each database we run on: a URL may name the database alone
# ("postgresql://…", "sqlite:///…", as people write them) and gets ours.
ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}


def async_url(url: str | URL) -> URL:
    """``url`` with the async driver of its database, if it names none (``postgres://`` too)."""
    url = make_url(url)
    backend = "postgresql" if url.get_backend_name() == "postgres" else url.get_backend_name()
    if backend in ASYNC_DRIVERS and "+" not in url.drivername:
        url = url.set(drivername=f"{backend}+{ASYNC_DRIVERS[backend]}")
    return url


def _is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def _is_sqlite_memory(url: URL) -> bool:
    return _is_sqlite(url) and url.database in (None, "", ":memory:")


def _sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite database, or None (in-memory, URI filenames, other backends)."""
    if not _is_sqlite(url) or _is_sqlite_memory(url) or url.query.get("uri"):
        return None
    return Path(url.database)


def set_sqlite_pragmas(dbapi_connection: Any, _connection_record: Any) -> None:
    """SQLAlchemy "connect" listener: our pragmas on every new SQLite connection."""
    cursor = dbapi_connection.cursor()
    try:
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def alembic_config(url: str | URL | None = None, migrations_dir: Path = MIGRATIONS_DIR) -> Config:
    """An alembic Config that doesn't depend on the CWD or on alembic.ini.

    No ini file on purpose: alembic would otherwise call ``logging.fileConfig`` and reset the
    application's logging.
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    if url is not None:
        config.attributes["url"] = url
    return config


# The files alembic loads as revision scripts (alembic.script.base._only_source_rev_file).
_REVISION_FILE = re.compile(r"(?!\.#|__init__)(.*\.py)$")


def script_heads(migrations_dir: Path = MIGRATIONS_DIR) -> set[str] | None:
    """The head revision ids of ``migrations_dir/versions``, without importing alembic.

    Reads the literal ``revision`` / ``down_revision`` assignments of each script (as alembic
    writes them); a head is a revision no other script revises. Returns None when a script
    doesn't fit that simple shape, so callers fall back to asking alembic itself (its answer
    and this one are compared in tests/test_startup.py).
    """
    revisions: set[str] = set()
    revised: set[str] = set()
    versions = migrations_dir / "versions"
    if not versions.is_dir():
        return None
    for path in versions.iterdir():
        if not path.is_file() or not _REVISION_FILE.match(path.name):
            continue
        values: dict[str, Any] = {}
        try:
            for node in ast.parse(path.read_bytes(), filename=str(path)).body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1:
                    target, value = node.targets[0], node.value
                elif isinstance(node, ast.AnnAssign) and node.value is not None:
                    target, value = node.target, node.value
                else:
                    continue
                if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                    values[target.id] = ast.literal_eval(value)
        except (SyntaxError, ValueError, TypeError, OSError):
            return None
        revision, down = values.get("revision"), values.get("down_revision", ...)
        if not isinstance(revision, str) or revision in revisions or down is ...:
            return None
        revisions.add(revision)
        if isinstance(down, str):
            revised.add(down)
        elif isinstance(down, (tuple, list)) and all(isinstance(d, str) for d in down):
            revised.update(down)
        elif down is not None:
            return None
    heads = revisions - revised
    return heads or None


def _stamped_revisions(sync_conn: Connection) -> set[str]:
    """The revisions recorded in ``alembic_version`` (empty for a new database)."""
    if not inspect(sync_conn).has_table("alembic_version"):
        return set()
    rows = sync_conn.exec_driver_sql("SELECT version_num FROM alembic_version")
    return {version for (version,) in rows}


# How many copies from before an upgrade are kept next to a SQLite database.
BACKUPS_KEPT = 3


class MigrationError(RuntimeError):
    """An upgrade failed. The database is as it was; ``backup`` is its copy from before."""

    def __init__(self, message: str, backup: Path) -> None:
        super().__init__(message)
        self.backup = backup


def _our_tables(sync_conn: Connection) -> list[str]:
    return [
        name
        for name in inspect(sync_conn).get_table_names()
        if name != "alembic_version" and not name.startswith("sqlite_")
    ]


def _schema_state(conn: sqlite3.Connection) -> list[tuple]:
    """What a migration changes: the schema and the stamped revisions."""
    state = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY 1, 2")
    rows = list(state)
    if any(row[:2] == ("table", "alembic_version") for row in rows):
        rows += conn.execute("SELECT version_num FROM alembic_version ORDER BY 1").fetchall()
    return rows


def backup_sqlite(path: Path, label: str, keep: int = BACKUPS_KEPT) -> Path:
    """Copy the database at ``path`` to ``<name>.bak-<label>``; keep the newest ``keep`` copies.

    SQLite's online backup API gives a consistent copy even if another connection is writing
    (a file copy of a WAL database could miss or tear the last commits). The copy is written
    under a temporary name and renamed, so a crash never leaves a half copy under the real one.
    """
    target = path.with_name(f"{path.name}.bak-{label}")
    partial = path.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    with closing(sqlite3.connect(path)) as source, closing(sqlite3.connect(partial)) as copy:
        source.backup(copy)
        # One self-contained file: opening the copy later leaves no -wal/-shm beside it.
        copy.execute("PRAGMA journal_mode=DELETE")
    # File times can be as coarse as the kernel tick; copies made in one tick would tie.
    now = time.time_ns()
    os.utime(partial, ns=(now, now))
    os.replace(partial, target)
    prefix = f"{path.name}.bak-"
    copies = sorted(
        (p for p in path.parent.iterdir() if p.name.startswith(prefix) and p.is_file()),
        key=lambda p: p.stat().st_mtime_ns,
        reverse=True,
    )
    for old in copies[keep:]:
        old.unlink(missing_ok=True)
    return target


def restore_sqlite_if_changed(path: Path, backup: Path) -> bool:
    """Put ``backup`` back into ``path`` if a failed upgrade changed its schema or revision.

    Each upgrade runs in one transaction (migrations/env.py), so normally the rollback has
    already undone it and nothing is copied back (which would also undo others' later writes);
    this covers a migration that committed part of its work before failing.
    """
    with closing(sqlite3.connect(backup)) as copy, closing(sqlite3.connect(path)) as original:
        if _schema_state(original) == _schema_state(copy):
            return False
        copy.backup(original)
        return True


class Database:
    """Owns the async engine and the session factory. Create one per process and inject it."""

    def __init__(
        self,
        url: str | URL,
        *,
        echo: bool = False,
        migrations_dir: Path = MIGRATIONS_DIR,
        **engine_kwargs: Any,
    ) -> None:
        self.url = async_url(url)
        self.migrations_dir = migrations_dir
        if self.url.get_backend_name() == "postgresql":
            # Named in pg_stat_activity, so an operator sees which connections are ours.
            connect_args = engine_kwargs.setdefault("connect_args", {})
            connect_args.setdefault("server_settings", {}).setdefault(
                "application_name", "assistant"
            )
        if _is_sqlite(self.url):
            if _is_sqlite_memory(self.url):
                # Each new connection to :memory: is a new empty database: share one.
                engine_kwargs.setdefault("poolclass", StaticPool)
            elif self.url.database and not self.url.query.get("uri"):
                Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine: AsyncEngine = create_async_engine(self.url, echo=echo, **engine_kwargs)
        if _is_sqlite(self.url):
            event.listen(self.engine.sync_engine, "connect", set_sqlite_pragmas)
        # expire_on_commit=False: callers keep using the objects a unit of work returned after
        # it committed; expiring them would force (async-unsafe) lazy reloads.
        self.session: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: a session whose writes are committed together when the block ends,
        or rolled back, none of them stored, if it raises. Repositories never commit."""
        async with self.session() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def upgrade(self, revision: str = "head") -> Path | None:
        """Run ``alembic upgrade`` on this database. Safe to call inside a running loop.

        A SQLite file with tables of ours that is behind ``revision`` is first copied to
        ``<name>.bak-<from revision>`` (returned). If the upgrade then fails, the database is
        left (or put back) as it was and a ``MigrationError`` names the copy.
        """
        from alembic import command

        path = _sqlite_file(self.url)
        backup = None
        if path is not None:
            async with self.engine.connect() as conn:
                label = await conn.run_sync(self._backup_label, revision)
            if label is not None:
                backup = await asyncio.to_thread(backup_sqlite, path, label)
        try:
            await self._run_alembic(command.upgrade, revision)
        except Exception as error:
            if backup is None:
                raise
            try:
                await asyncio.to_thread(restore_sqlite_if_changed, path, backup)
            except Exception as restore_error:
                raise MigrationError(
                    f"Upgrading {path} failed ({error}) and putting back its copy from before "
                    f"the upgrade failed too ({restore_error}); that copy is {backup}",
                    backup,
                ) from error
            raise MigrationError(
                f"Upgrading {path} failed: {error}. The database is as it was; a copy from "
                f"before the upgrade is {backup}",
                backup,
            ) from error
        return backup

    def _backup_label(self, sync_conn: Connection, revision: str) -> str | None:
        """The revision(s) to name a copy after, or None when there is nothing to keep (no
        tables of ours yet) or nothing to do (already at ``revision``)."""
        from alembic.script import ScriptDirectory

        if not _our_tables(sync_conn):
            return None
        stamped = tuple(sorted(_stamped_revisions(sync_conn)))
        script = ScriptDirectory.from_config(alembic_config(self.url, self.migrations_dir))
        # The steps `alembic upgrade` would run (alembic's own upgrade does the same walk).
        if not any(script.iterate_revisions(revision, stamped, implicit_base=True)):
            return None
        return "+".join(stamped) or "base"

    async def upgrade_if_behind(self) -> bool:
        """Upgrade to head unless the database is already there; True if alembic ran.

        The server calls this on every start. Being at head is the common case, and checking
        it costs one small query instead of importing alembic and loading every script.
        """
        heads = script_heads(self.migrations_dir)
        if heads is not None:
            async with self.engine.connect() as conn:
                if await conn.run_sync(_stamped_revisions) == heads:
                    return False
        await self.upgrade()
        return True

    async def downgrade(self, revision: str) -> None:
        from alembic import command

        await self._run_alembic(command.downgrade, revision)

    async def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        async with self.engine.connect() as conn:
            return await conn.run_sync(
                lambda sync_conn: MigrationContext.configure(sync_conn).get_current_revision()
            )

    async def _run_alembic(self, fn: Callable[[Config, str], None], revision: str) -> None:
        # Alembic's async recipe: hand env.py a connection from our engine and run the
        # synchronous alembic command through run_sync, instead of env.py calling asyncio.run
        # (which would fail inside a running event loop). Reusing our engine also means it
        # works for shared in-memory databases.
        config = alembic_config(self.url, self.migrations_dir)

        def run(sync_conn: Connection) -> None:
            config.attributes["connection"] = sync_conn
            fn(config, revision)

        async with self.engine.connect() as conn:
            await conn.run_sync(run)

    async def dispose(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.dispose()


async def upgrade_database_async(url: str | URL, revision: str = "head") -> Path | None:
    db = Database(url)
    try:
        return await db.upgrade(revision)
    finally:
        await db.dispose()


def upgrade_database(url: str | URL, revision: str = "head") -> Path | None:
    """Entry point for ``assistant db upgrade``: migrate the database at ``url``; the copy
    kept from before, if one was made (see ``Database.upgrade``)."""
    return asyncio.run(upgrade_database_async(url, revision))
