"""Condenses what falls out of the token budget into a stored summary: in the background
while a session runs, and when it ends.

A resumed conversation is seeded with the latest summary and the newest messages that fit the
token budget (`assistant.store.context.load_context`). Without a summary, whatever falls out of
that window is forgotten. So whenever the messages since the latest summary no longer fit, the
older part of them (with the previous summary) is condensed by the same Groq model, and stored
as the new summary. A live session does it as soon as its context outgrows the budget, and
then carries on from that summary and the rest, just as a resume would; the session's end does
it once more for the next resume.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from loguru import logger
from openai import AsyncOpenAI
from openai.types import CompletionUsage
from pipecat.processors.aggregators.llm_context import LLMContext

from assistant.config import Settings
from assistant.pipeline.llm import AssistantLLM
from assistant.store.context import (
    Overflow,
    bound_messages,
    estimate_tokens,
    find_overflow,
    fold_summary,
    is_summary,
    summary_message,
)
from assistant.store.database import Database
from assistant.store.repository import ConversationRepository, UsageRepository

SUMMARY_INSTRUCTION = (
    "You write the memory of a personal voice assistant. Condense the conversation below into "
    "notes the assistant will read before it talks with this user again. Keep what the user "
    "said about themselves, their preferences and plans, decisions made, questions still open "
    "and anything the user asked to be remembered; drop greetings and small talk. If the "
    "conversation starts with an earlier summary, merge it in. Plain sentences, at most 150 "
    "words, in the user's language. Write only the notes."
)
MAX_SUMMARY_TOKENS = 400


def transcript_text(overflow: Overflow) -> str:
    """The messages as lines a model reads as a conversation, not as instructions to follow."""
    lines = []
    for message in overflow.transcript:
        role, content = message["role"], message.get("content") or ""
        if message.get("tool_calls"):
            calls = ", ".join(
                f"{c['function']['name']}({c['function']['arguments']})"
                for c in message["tool_calls"]
            )
            lines.append(f"Assistant (used tools): {content} {calls}".strip())
        elif role == "tool":
            lines.append(f"Tool result: {content}")
        else:
            lines.append(f"{role.capitalize()}: {content}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Summary:
    """A summary just stored, and the messages that follow it in a resumed context."""

    text: str
    until_seq: int
    kept: list[dict[str, Any]]


async def summarize_overflow(
    client: AsyncOpenAI,
    settings: Settings,
    db: Database,
    user_id: int,
    conversation_id: str,
    *,
    token_budget: int | None = None,
) -> Summary | None:
    """Store a new summary if the conversation outgrew the budget (by default the resume
    budget); the summary if it did.

    ``client`` is the session's own Groq client (`AssistantLLM.client`): a new one would build
    its TLS context on the event loop the other sessions' audio runs on.

    Failures (the model, the network, the store) are logged and leave everything as it was:
    the messages are all still stored, and the next attempt tries again.
    """
    budget = settings.context_token_budget if token_budget is None else token_budget
    try:
        async with db.session() as session:
            overflow = await find_overflow(session, user_id, conversation_id, budget)
        if overflow is None:
            return None
        response = await client.with_options(max_retries=1).chat.completions.create(
            model=settings.groq_llm_model,
            messages=[
                {"role": "system", "content": SUMMARY_INSTRUCTION},
                {"role": "user", "content": transcript_text(overflow)},
            ],
            max_tokens=MAX_SUMMARY_TOKENS,
            temperature=0.2,
        )
        await _record_usage(db, user_id, conversation_id, response.usage)
        text = (response.choices[0].message.content or "").strip() if response.choices else ""
        if not text:
            logger.warning(f"the model wrote an empty summary for {conversation_id}")
            return None
        async with db.transaction() as session:
            await ConversationRepository(session, user_id).append_summary(
                conversation_id, text, overflow.until_seq
            )
        return Summary(text, overflow.until_seq, overflow.kept)
    except asyncio.CancelledError:
        raise
    except Exception as error:
        logger.warning(f"summarizing conversation {conversation_id} failed: {error!r}")
        return None


async def _record_usage(
    db: Database, user_id: int, conversation_id: str, usage: CompletionUsage | None
) -> None:
    """A summary's tokens count against the same limits as the replies'."""
    if usage is None:
        return
    logger.info(
        f"LLM usage summarizing {conversation_id}: {usage.prompt_tokens} prompt tokens, "
        f"{usage.completion_tokens} completion tokens"
    )
    try:
        async with db.transaction() as session:
            await UsageRepository(session, user_id).add(
                conversation_id, usage.prompt_tokens, usage.completion_tokens, purpose="summary"
            )
    except Exception as error:  # the summary itself is still worth storing
        logger.warning(f"recording a summary's usage failed: {error!r}")


def context_tokens(messages: list[Any]) -> int:
    """Estimated tokens of what the next request carries besides the system instruction."""
    return sum(
        estimate_tokens(m) for m in messages if isinstance(m, dict) and m.get("role") != "system"
    )


class ContextSummarizer:
    """Keeps one live session's context within the token budget, off the reply's path.

    After each assistant turn, if the context outgrew the budget, a background task condenses
    the older turns into a stored summary (`summarize_overflow`, from the store, which the
    recorder fills from pipecat's events) and rewrites the context as a resume would load
    it: that summary, right after the system instruction, then the messages after it. Until
    then each request is trimmed to the budget (`AssistantLLM`), so no reply waits for a
    summary. One summary at a time; at the session's end, `close` makes the one the next
    resume needs.
    """

    def __init__(
        self,
        llm: AssistantLLM,
        context: LLMContext,
        settings: Settings,
        db: Database,
        user_id: int,
        conversation_id: str,
    ):
        self._llm = llm
        self._context = context
        self._settings = settings
        self._db = db
        self._user_id = user_id
        self._conversation_id = conversation_id
        self._wanted = asyncio.Event()
        self._folded = asyncio.Condition()
        self.applied = 0  # summaries folded into the live context

    @property
    def budget(self) -> int:
        """The LLM's history budget: the configured one, or less if Groq found it too long."""
        budget = self._llm.context_budget
        return self._settings.context_token_budget if budget is None else budget

    def check(self) -> None:
        """Wake the background summary if the context no longer fits the budget."""
        if context_tokens(self._context.messages) > self.budget:
            self._wanted.set()

    async def on_turn_stopped(self, _aggregator: Any, _message: Any) -> None:
        self.check()

    async def run(self) -> None:
        """The background summaries, for the session's lifetime (cancelled at its end)."""
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            summary = await self._summarize(self.budget)
            if summary is None:
                continue  # nothing to condense yet, or it failed: the next turn tries again
            try:
                self._apply(summary)
            except Exception:  # the summary is stored; the requests stay trimmed meanwhile
                logger.exception(f"conversation {self._conversation_id}: folding failed")
                continue
            async with self._folded:
                self._folded.notify_all()

    async def wait_applied(self, count: int) -> None:
        """Until ``count`` summaries have been folded into the context (tests, benchmarks)."""
        async with self._folded:
            await self._folded.wait_for(lambda: self.applied >= count)

    async def close(self) -> None:
        """At the session's end: the summary the next resume (at the resume budget) needs."""
        await self._summarize(None)

    async def _summarize(self, budget: int | None) -> Summary | None:
        return await summarize_overflow(
            self._llm.client,
            self._settings,
            self._db,
            self._user_id,
            self._conversation_id,
            token_budget=budget,
        )

    def _apply(self, summary: Summary) -> None:
        messages = list(self._context.messages)
        folded = fold_summary(messages, summary.text, summary.kept)
        if folded is None:
            # The store and the context disagree (a message could not be saved): keep the
            # newest messages that fit with the new summary, as a request would.
            logger.warning(f"conversation {self._conversation_id}: summary not aligned")
            if not all(isinstance(m, dict) for m in messages):
                return
            rest = [m for m in messages if m.get("role") != "system" and not is_summary(m)]
            system = [m for m in messages if m.get("role") == "system"]
            folded = bound_messages([*system, summary_message(summary.text), *rest], self.budget)
        self._context.set_messages(folded)
        self.applied += 1
        logger.info(
            f"conversation {self._conversation_id}: older turns folded into a summary,"
            f" {len(messages)} -> {len(folded)} messages"
        )
