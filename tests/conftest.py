"""Shared fixtures: the offline fakes, settings pointing at them, a migrated database."""

from __future__ import annotations

import pytest

from assistant.config import Settings
from assistant.store.database import Database
from fakes import fake_settings
from fakes.cartesia import FakeCartesia
from fakes.groq import FakeGroq
from fakes.harness import Headless
from fakes.speech import require_speech_tools


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "live: asks the real Groq API; runs only with `-m live` and GROQ_API_KEY"
    )


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
def settings(tmp_path, fake_groq, fake_cartesia) -> Settings:
    return fake_settings(fake_groq.base_url, fake_cartesia.url, tmp_path / "assistant.db")


@pytest.fixture
async def db(settings):
    database = Database(settings.database_url)
    await database.upgrade()
    yield database
    await database.dispose()


@pytest.fixture
def headless(settings, db, fake_groq) -> Headless:
    require_speech_tools()
    return Headless(settings=settings, db=db, fake_groq=fake_groq)
