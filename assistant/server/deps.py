"""FastAPI dependencies: a per-request store session, and waiting for the voice stack."""

from collections.abc import AsyncIterator

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession


async def get_store_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.db.session() as session:
        yield session


async def voice_stack_ready(request: Request) -> None:
    """Wait, off the event loop, until the app's warm-up has imported the voice stack."""
    await request.app.state.bots.ready()
