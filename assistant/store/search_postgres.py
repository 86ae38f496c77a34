"""Recall's candidate retrieval on PostgreSQL: search.py's FTS5 statements, spelled for the GIN
index of migration 0004 (``ix_messages_content_fts``). The ranking and relevance rules stay in
search.py, shared by both databases.

The index is partial (only what SQLite's ``messages_fts`` holds: user and assistant messages and
summaries, never tool calls or results), so every statement repeats its predicate: the planner
uses a partial index only for a query that implies it, and the rows found are the same ones
SQLite's index would find.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import Select, String, and_, bindparam, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.store import dialects
from assistant.store.models import Conversation, Message

# Migration 0004's SEARCHABLE, as the index's WHERE says it (the same literals, so that the
# planner proves the implication).
SEARCHABLE = and_(
    Message.content.is_not(None),
    or_(
        literal_column("messages.kind") == literal_column("'summary'"),
        and_(
            literal_column("messages.role").in_(
                [literal_column("'user'"), literal_column("'assistant'")]
            ),
            Message.tool_call_id.is_(None),
        ),
    ),
)


def matches(variants: list[str]) -> tuple[Any, Any]:
    """(WHERE clause, score) for messages holding any of ``variants``; the score is lower when
    better, as FTS5's bm25 (search.py orders by it ascending)."""
    where, rank = dialects.ts_matches(Message.content, variants)
    return and_(SEARCHABLE, where), -rank


def candidates(columns: list[Any], variants: list[str]) -> Select:
    """``columns`` of the messages that match, with their ``score``, best first."""
    where, score = matches(variants)
    return select(*columns, score.label("score")).select_from(Message).where(where).order_by(score)


def word_slots(count: int, prefix: str = "word") -> list[Any]:
    """``count`` bound parameters for the words of a statement made once and reused."""
    return [bindparam(f"{prefix}{n}", type_=String) for n in range(count)]


def word_params(words: list[str], prefix: str = "word") -> dict[str, str]:
    """The values of ``word_slots`` for ``words``."""
    return {f"{prefix}{n}": word for n, word in enumerate(words)}


@lru_cache(maxsize=64)
def _counts_statement(words_per_term: tuple[int, ...]) -> Any:
    """One count a term (its words ``t<term>w<n>``; ``user_id``, ``cap``), made once a shape."""
    counts = [
        select(func.count())
        .select_from(
            select(literal_column("1"))
            .select_from(Message)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(matches(word_slots(words, f"t{term}w"))[0])
            .where(Conversation.user_id == bindparam("user_id"))
            .limit(bindparam("cap"))
            .subquery()
        )
        .scalar_subquery()
        for term, words in enumerate(words_per_term)
    ]
    return select(*counts)


async def document_counts(
    session: AsyncSession, variants_per_term: list[list[str]], user_id: int, cap: int
) -> list[int]:
    """In how many of the user's searchable messages each term is, counted up to ``cap``."""
    params: dict[str, Any] = {"user_id": user_id, "cap": cap}
    for term, variants in enumerate(variants_per_term):
        params.update(word_params(variants, f"t{term}w"))
    statement = _counts_statement(tuple(len(v) for v in variants_per_term))
    return list((await session.execute(statement, params)).one())
