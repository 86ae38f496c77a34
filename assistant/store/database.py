"""Engine/session wiring and programmatic alembic migrations."""

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import StaticPool

# Top-level migrations/ lives next to the package in the source tree; resolve it from here so
# upgrades work from any working directory.
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"

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


def _is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def _is_sqlite_memory(url: URL) -> bool:
    return _is_sqlite(url) and url.database in (None, "", ":memory:")


def _set_sqlite_pragmas(dbapi_connection: Any, _connection_record: Any) -> None:
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
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    if url is not None:
        config.attributes["url"] = url
    return config


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
        self.url = make_url(url)
        self.migrations_dir = migrations_dir
        if _is_sqlite(self.url):
            if _is_sqlite_memory(self.url):
                # Each new connection to :memory: is a new empty database: share one.
                engine_kwargs.setdefault("poolclass", StaticPool)
            elif self.url.database and not self.url.query.get("uri"):
                Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine: AsyncEngine = create_async_engine(self.url, echo=echo, **engine_kwargs)
        if _is_sqlite(self.url):
            event.listen(self.engine.sync_engine, "connect", _set_sqlite_pragmas)
        # expire_on_commit=False: repositories commit after every write and callers keep using
        # the returned objects; expiring them would force (async-unsafe) lazy reloads.
        self.session: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False
        )

    async def upgrade(self, revision: str = "head") -> None:
        """Run ``alembic upgrade`` on this database. Safe to call inside a running loop."""
        await self._run_alembic(command.upgrade, revision)

    async def downgrade(self, revision: str) -> None:
        await self._run_alembic(command.downgrade, revision)

    async def current_revision(self) -> str | None:
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

    async def __aenter__(self) -> "Database":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.dispose()


async def upgrade_database_async(url: str | URL, revision: str = "head") -> None:
    db = Database(url)
    try:
        await db.upgrade(revision)
    finally:
        await db.dispose()


def upgrade_database(url: str | URL, revision: str = "head") -> None:
    """Entry point for ``assistant db upgrade``: migrate the database at ``url``."""
    asyncio.run(upgrade_database_async(url, revision))
