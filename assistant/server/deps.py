"""FastAPI dependencies: a per-request store session, and waiting for the voice stack."""

from collections.abc import AsyncIterator

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession


async def get_store_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed once the route returns, rolled back if it raises
    (an HTTPException too). Use with ``scope="function"`` so it commits before the answer."""
    async with request.app.state.db.transaction() as session:
        yield session


async def voice_stack_ready(request: Request) -> None:
    """Wait, off the event loop, until the app's warm-up has imported the voice stack."""
    await request.app.state.bots.ready()
