from pathlib import Path

import pytest

from assistant.store.database import Database
from assistant.store.repository import UserRepository


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def alice(db: Database) -> int:
    async with db.transaction() as session:
        return (await UserRepository(session).get_or_create("alice", "Europe/Paris")).id


@pytest.fixture
async def bob(db: Database) -> int:
    async with db.transaction() as session:
        return (await UserRepository(session).get_or_create("bob")).id
