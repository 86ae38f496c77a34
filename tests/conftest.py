"""Shared fixtures: the offline fakes, settings pointing at them, a migrated database (on each
backend the run chose: tests/backends.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.store.database import Database
from fakes import fake_settings
from fakes.cartesia import FakeCartesia
from fakes.groq import FakeGroq
from fakes.harness import Headless
from fakes.speech import require_speech_tools
from tests import backends


def pytest_addoption(parser: pytest.Parser) -> None:
    backends.add_option(parser)


def pytest_configure(config: pytest.Config) -> None:
    backends.configure(config)
    config.addinivalue_line(
        "markers", "live: asks the real Groq API; runs only with `-m live` and GROQ_API_KEY"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    backends.generate_tests(metafunc)


@pytest.fixture(scope="session")
def postgres_server(request) -> Iterator[backends.PostgresServer | None]:
    yield from backends.postgres_server(request.config)


@pytest.fixture
def backend(request) -> str:
    """The database this test runs against (parametrized for tests that reach ``db``)."""
    return getattr(request, "param", "sqlite")


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request) -> Iterator[str]:
    """A fresh database at the head of the migrations, on this test's backend."""
    if backend == "sqlite":
        # A real file (not :memory:) so WAL, locking and several connections behave as in prod.
        yield f"sqlite+aiosqlite:///{tmp_path / 'assistant.db'}"
        return
    server = backends.require_postgres(request.getfixturevalue("postgres_server"))
    name = server.migrated()
    try:
        yield server.url_of(name)
    finally:
        server.drop(name)


def pytest_collection_modifyitems(config, items):
    # Never the real API in an ordinary run, even where GROQ_API_KEY happens to be set.
    if "live" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="live: run with `uv run pytest -m live`")
    for item in items:
        if "live" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
async def fake_groq():
    async with FakeGroq() as fake:
        yield fake


@pytest.fixture
async def fake_cartesia():
    async with FakeCartesia() as fake:
        yield fake


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path, request) -> Iterator[str]:
    """A new database with nothing in it, not even migrations, on this test's backend."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    server = backends.require_postgres(request.getfixturevalue("postgres_server"))
    name = server.create()
    try:
        yield server.url_of(name)
    finally:
        server.drop(name)


@pytest.fixture
def settings(tmp_path, fake_groq, fake_cartesia, database_url) -> Settings:
    return fake_settings(
        fake_groq.base_url, fake_cartesia.url, tmp_path / "assistant.db", database_url=database_url
    )


@pytest.fixture
async def db(database_url, backend):
    database = Database(database_url)
    if backend == "sqlite":  # PostgreSQL's is a copy of a template already at head
        await database.upgrade()
    yield database
    await database.dispose()


@pytest.fixture
def headless(settings, db, fake_groq) -> Headless:
    require_speech_tools()
    return Headless(settings=settings, db=db, fake_groq=fake_groq)
