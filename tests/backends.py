"""Which database the database-facing tests run against: SQLite, PostgreSQL, or both.

Every test that uses the ``db`` fixture (directly or through another fixture) runs once per
backend chosen by ``--backend`` (or ``TEST_BACKEND``; default ``both``), its id ending in
``[sqlite]`` or ``[postgresql]``. A test that checks something only one database has is marked
``@pytest.mark.sqlite_only`` or ``postgresql_only``; the pipeline's modules (PIPELINE_MODULES)
run on SQLite alone.

PostgreSQL runs need a server: ``TEST_POSTGRES_URL`` names one (a role that may create
databases; ``.ci/run`` starts a throwaway cluster and sets it). Without it they are skipped,
and under ``CI=true`` they fail. The schema is migrated once per run into a template database;
each test gets a fresh copy of it (``CREATE DATABASE … TEMPLATE``, a file copy), dropped after.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import asyncpg
import pytest
from sqlalchemy.engine import make_url

BACKENDS = ("sqlite", "postgresql")

# Tests of the voice pipeline, the services, the page and the browser reach ``db`` through the
# headless session or the app, but test nothing of the store's: they run on SQLite alone (a
# second run would add minutes). The store, the tools, the API, the recorder, durability,
# hand-over, summaries and concurrency run on both.
PIPELINE_MODULES = frozenset(
    {
        "test_browser",
        "test_browser_typing",
        "test_faults",
        "test_groq_connections",
        "test_js",
        "test_llm_requests",
        "test_long_call",
        "test_pipeline",
        "test_rate_limits",
        "test_refused_requests",
        "test_request_prefix",
        "test_server_rtc",
        "test_session_costs",
        "test_tts_tls",
        "test_turn_timings",
    }
)
POSTGRES_URL_VARIABLE = "TEST_POSTGRES_URL"


def add_option(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        choices=(*BACKENDS, "both"),
        default=os.environ.get("TEST_BACKEND", "both"),
        help="database(s) the database-facing tests run against (default: both, or "
        "$TEST_BACKEND); PostgreSQL needs $TEST_POSTGRES_URL",
    )


def configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only: checks what only SQLite has; not run against PostgreSQL"
    )
    config.addinivalue_line(
        "markers", "postgresql_only: checks what only PostgreSQL has; not run against SQLite"
    )


def chosen_backends(config: pytest.Config) -> list[str]:
    choice = config.getoption("--backend")
    return list(BACKENDS) if choice == "both" else [choice]


def generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``backend`` for every test whose fixtures reach ``db``."""
    if "db" not in metafunc.fixturenames and "backend" not in metafunc.fixturenames:
        return
    backends = chosen_backends(metafunc.config)
    module = metafunc.module.__name__.rpartition(".")[2]
    if metafunc.definition.get_closest_marker("sqlite_only") or module in PIPELINE_MODULES:
        backends = [b for b in backends if b == "sqlite"] or ["sqlite"]
    elif metafunc.definition.get_closest_marker("postgresql_only"):
        backends = [b for b in backends if b == "postgresql"]  # none: skipped
    metafunc.parametrize("backend", backends, indirect=True, ids=backends)


def _admin_dsn(url: str) -> str:
    """A DSN asyncpg takes (it knows no "+asyncpg" driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class _Admin:
    """One connection to the maintenance database, on a loop of its own in a thread: the
    fixtures that create and drop databases are synchronous and run outside the test's loop,
    and a connection per statement would cost ~25 ms each time."""

    def __init__(self, dsn: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._conn = self._call(asyncpg.connect(dsn))

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def execute(self, statement: str) -> None:
        self._call(self._conn.execute(statement))

    def fetchval(self, query: str):
        return self._call(self._conn.fetchval(query))

    def close(self) -> None:
        self._call(self._conn.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


@dataclass
class PostgresServer:
    """A PostgreSQL server the tests may create databases on."""

    url: str  # SQLAlchemy URL of its maintenance database (postgresql+asyncpg://…/postgres)
    prefix: str
    template: str | None = None
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _admin: _Admin | None = None
    _strategy: str = ""

    def url_of(self, database: str) -> str:
        return make_url(self.url).set(database=database).render_as_string(hide_password=False)

    def _execute(self, statement: str) -> None:
        if self._admin is None:
            self._admin = _Admin(_admin_dsn(self.url))
            # PostgreSQL 15's default WAL-logs every page of a copy: ~800 ms a database on a
            # busy 2-core machine, against ~90 ms for a file copy.
            if int(self._admin.fetchval("SHOW server_version_num")) >= 150000:
                self._strategy = " STRATEGY FILE_COPY"
        self._admin.execute(statement.format(strategy=self._strategy))

    def create(self, *, template: str | None = None) -> str:
        """A new database (empty, or a copy of ``template``); returns its name."""
        name = f"{self.prefix}_{next(self._names)}"
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{template or "template0"}"{{strategy}}')
        return name

    def drop(self, name: str) -> None:
        # FORCE: a server the test started may still hold a connection it never closed.
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        if self.template is not None:
            self.drop(self.template)
        if self._admin is not None:
            self._admin.close()

    def migrated(self) -> str:
        """A new database at the head of the migrations (a copy of the run's template)."""
        if self.template is None:
            from assistant.store.database import Database

            template = self.create()

            async def migrate() -> None:
                database = Database(self.url_of(template))
                try:
                    await database.upgrade()
                finally:
                    await database.dispose()

            asyncio.run(migrate())
            self.template = template
        return self.create(template=self.template)


def postgres_server(config: pytest.Config) -> Iterator[PostgresServer | None]:
    """The session's server (None without ``TEST_POSTGRES_URL``); its databases dropped after."""
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url or "postgresql" not in chosen_backends(config):
        yield None
        return
    from assistant.store.database import async_url

    server = PostgresServer(
        url=async_url(url).render_as_string(hide_password=False),
        prefix=f"assistant_test_{os.getpid()}",
    )
    try:
        yield server
    finally:
        server.close()


def require_postgres(server: PostgresServer | None) -> PostgresServer:
    if server is not None:
        return server
    reason = f"PostgreSQL tests need a server: set {POSTGRES_URL_VARIABLE} (see .ci/run)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)
