"""What the assistant knows about the user, in the system instruction.

The block of current facts (`memory_block`) is read from the store once, when the session is
built, and goes at the end of the system instruction, which then stays byte-identical (a prefix
a provider can cache). Only a tool that changes a fact (it tells the page `memory-changed`)
makes it read again; the new block replaces the old one through pipecat's public settings
update, queued to the LLM ahead of the request that follows the tool's result. An ordinary turn
does no memory work at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from loguru import logger
from pipecat.frames.frames import LLMUpdateSettingsFrame
from pipecat.services.llm_service import LLMService
from pipecat.services.settings import LLMSettings

from assistant.store.database import Database
from assistant.store.memories import MemoryRepository
from assistant.store.repository import ConversationRepository
from assistant.store.terms import content_terms

MEMORY_CHANGED = "memory-changed"
# Words of a fact that say nothing of its topic: sharing one with the user is no sign of use.
_NOT_TOPICAL = frozenset("user called named name live like love work".split())

Notify = Callable[[dict[str, Any]], Awaitable[None]]


async def read_block(db: Database, user_id: int, budget_tokens: int) -> tuple[str, list[int]]:
    """The user's block of current facts within the budget, and the ids of the facts in it."""
    if budget_tokens <= 0:
        return "", []
    async with db.session() as session:
        return await MemoryRepository(session).block(user_id, budget_tokens)


def user_lines(messages: list[Any]) -> list[str]:
    """The user's own words of stored messages (no assistant text, tool calls or results)."""
    return [m.content.strip() for m in messages if m.role == "user" and (m.content or "").strip()]


async def users_words(db: Database, user_id: int, conversation_id: str, after_seq: int) -> str:
    """What the user said in a conversation after message ``after_seq``, one line a turn."""
    async with db.session() as session:
        messages = await ConversationRepository(session, user_id).messages(
            conversation_id, after_seq=after_seq, limit=1000
        )
    return "\n".join(user_lines(messages))


class KnownFacts:
    """One session's block of facts, and the instruction made with it.

    ``instruction(block)`` makes the whole system instruction around a block. `load` reads the
    block when the session is built; `notifier` wraps the tools' notify so that a
    `memory-changed` replaces the block in ``llm`` before the page hears of it; `mark_used`
    runs when the session has ended.
    """

    def __init__(
        self,
        db: Database,
        user_id: int,
        conversation_id: str,
        budget_tokens: int,
        instruction: Callable[[str], str],
    ):
        self._db = db
        self._user_id = user_id
        self._conversation_id = conversation_id
        self._budget = budget_tokens
        self._instruction = instruction
        self.block = ""
        self.fact_ids: list[int] = []  # the facts in the block
        self.replaced = 0  # times the block was replaced mid-session
        self._llm: LLMService | None = None

    async def load(self) -> str:
        """Read the block; the system instruction to start the session with."""
        try:
            self.block, self.fact_ids = await read_block(self._db, self._user_id, self._budget)
        except Exception:  # a session without its facts is better than no session
            logger.exception(f"reading user {self._user_id}'s facts failed")
        return self.instruction

    @property
    def instruction(self) -> str:
        return self._instruction(self.block)

    def attach(self, llm: LLMService) -> None:
        self._llm = llm

    async def refresh(self) -> None:
        """Read the block again; if it changed, replace it in the LLM's system instruction.

        The update is queued to the LLM itself: a tool runs while the LLM waits for its result,
        so the request that follows the result finds the new instruction."""
        try:
            block, ids = await read_block(self._db, self._user_id, self._budget)
        except Exception:
            logger.exception(f"reading user {self._user_id}'s facts failed; block left as it was")
            return
        if block == self.block or self._llm is None:
            self.fact_ids = ids
            return
        self.block, self.fact_ids = block, ids
        self.replaced += 1
        await self._llm.queue_frame(
            LLMUpdateSettingsFrame(
                delta=LLMSettings(system_instruction=self.instruction), service=self._llm
            )
        )

    async def mark_used(self, after_seq: int) -> list[int]:
        """At the session's end (off every turn's path): count as used the facts of the block
        the user talked about, those sharing a word with what they said after message
        ``after_seq``. Injected alone is not used: pinned, most used and most recent come
        first in the block, and counting every injection would keep a new fact out for good
        once the block is full. The ids marked."""
        if not self.fact_ids:
            return []
        try:
            said = set(
                content_terms(
                    await users_words(self._db, self._user_id, self._conversation_id, after_seq)
                )
            )
            if not said:
                return []
            async with self._db.transaction() as session:
                memories = MemoryRepository(session)
                facts = [await memories.get(self._user_id, i) for i in self.fact_ids]
                used = [
                    m.id
                    for m in facts
                    if m is not None and said & set(content_terms(m.text, _NOT_TOPICAL))
                ]
                await memories.mark_used(self._user_id, used)
            return used
        except Exception:
            logger.exception(f"marking user {self._user_id}'s facts used failed")
            return []

    def notifier(self, notify: Notify) -> Notify:
        """``notify``, after replacing the block when the message says memory changed."""

        async def notify_after_refresh(message: dict[str, Any]) -> None:
            if message.get("type") == MEMORY_CHANGED:
                await self.refresh()
            await notify(message)

        return notify_after_refresh
