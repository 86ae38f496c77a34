"""Recall across conversations: full-text search over what the user and the assistant said.

``messages_fts`` (migration 0004) indexes the text of user and assistant messages and of
summaries, never tool calls or results; triggers keep it in step with the messages table,
including a deleted conversation's messages. Everything SQLite-specific is in this module, so
another engine's index (PostgreSQL's tsvector) can sit beside it behind the same class.

A hit is a matched message with the (at most two) messages that follow it in its conversation:
an answer often comes a turn after the words that name its topic ("the Porto trip?" … "we'll
take the train").

Relevance, without a language model: the query's content terms (stopwords and words about
talking, like "said" or "discuss", left out) are matched against each hit; a hit is relevant
when it holds at least half of them (all of one or two). Nothing relevant gives an empty list,
so the model can say it does not know instead of reading out the nearest noise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, column, func, literal_column, select, table, tuple_
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.store.models import Conversation, Message, MessageKind, Role
from assistant.store.terms import META_WORDS, content_terms, stem, words

MAX_QUERY_TERMS = 12
# Candidates bm25 ranks before the relevance rule picks; more costs time, fewer risks a relevant
# message ranked low by a long one.
CANDIDATES = 60
# One hit's text: 5 hits stay within ~600 tokens with their dates and titles.
SNIPPET_CHARS = 360
# Messages after a match that go with it (tool calls and results in between are skipped).
FOLLOWING = 2
_LOOK_AHEAD = 4
ROLE_LABELS = {"user": "User", "assistant": "Assistant", "summary": "Summary"}


@dataclass(frozen=True, slots=True)
class SearchHit:
    conversation_id: str
    conversation_title: str | None
    message_id: int | None  # None for a summary
    seq: int
    role: str  # "user", "assistant" or "summary"
    created_at: datetime
    snippet: str
    score: float


def query_terms(query: str) -> list[str]:
    """The words of a search that say what it is about, as the index's words (unstemmed)."""
    seen: dict[str, str] = {}
    for word in words(query):
        if not content_terms(word, META_WORDS):
            continue
        seen.setdefault(stem(word), word)
    return list(seen.values())[:MAX_QUERY_TERMS]


def _fts_match(terms: list[str]) -> str:
    # Each term quoted: FTS5 syntax in what the model typed (AND, NEAR, *, col:) stays text.
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


def needed_matches(count: int) -> int:
    """How many of a query's content terms a relevant hit must hold."""
    return count if count <= 2 else (count + 1) // 2


def snippet(content: str, terms: list[str], max_chars: int = SNIPPET_CHARS) -> str:
    """The text, or the part of it around its first matched term, on one line."""
    flat = " ".join(content.split())
    if len(flat) <= max_chars:
        return flat
    stems = {stem(t.lower()) for t in terms}
    start = 0
    for match in re.finditer(r"[^\W_]+", flat):
        if stem(match.group().lower()) in stems:
            start = max(0, match.start() - max_chars // 3)
            break
    start = flat.rfind(" ", 0, start) + 1 if start else 0
    cut = flat[start : start + max_chars]
    if start + max_chars < len(flat):
        cut = cut[: cut.rfind(" ")] if " " in cut[max_chars // 2 :] else cut
        cut += "…"
    return ("…" if start else "") + cut


def _exchange(parts: list[tuple[str, str]], terms: list[str], max_chars: int) -> str:
    """ "User: … Assistant: …" within ``max_chars``: the matched message first gets room for
    what it says about the terms, the following ones share the rest."""
    labelled = [
        (f"{ROLE_LABELS.get(role, role)}: ", " ".join(text.split())) for role, text in parts
    ]
    total = sum(len(label) + len(text) + 1 for label, text in labelled)
    if total <= max_chars:
        return " ".join(label + text for label, text in labelled)
    out = []
    room = max_chars
    for index, (label, text) in enumerate(labelled):
        left = len(labelled) - index
        share = room if left == 1 else max(60, room * 2 // 3 if index == 0 else room // left)
        share -= len(label) + 1
        if share < 20:
            break
        piece = snippet(text, terms, share)
        out.append(label + piece)
        room -= len(label) + len(piece) + 1
    return " ".join(out)


# The FTS5 table is made by the migration, not mapped; a handle is enough.
_messages_fts = table("messages_fts", column("rowid"))
_score = func.bm25(literal_column("messages_fts"))


def _searchable() -> Any:
    # The same messages the index holds (migration 0004's SEARCHABLE), for the following ones.
    return and_(
        Message.kind == MessageKind.MESSAGE,
        Message.role.in_([Role.USER, Role.ASSISTANT]),
        Message.tool_call_id.is_(None),
        Message.content.is_not(None),
    )


class SearchRepository:
    """Full-text search over one user's conversations (SQLite FTS5)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def search(
        self,
        user_id: int,
        query: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 5,
    ) -> list[SearchHit]:
        """The user's messages and summaries that match ``query``, best first, at most
        ``limit`` and at most two per conversation; [] when nothing is relevant. ``since`` and
        ``until`` (aware) bound when it was said: since <= created_at < until."""
        terms = query_terms(query)
        if not terms or limit < 1:
            return []
        stmt = (
            select(
                Message.id,
                Message.conversation_id,
                Conversation.title,
                Message.seq,
                Message.kind,
                Message.role,
                Message.created_at,
                Message.content,
                _score.label("score"),
            )
            .select_from(_messages_fts)
            .join(Message, Message.id == _messages_fts.c.rowid)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(literal_column("messages_fts").op("MATCH")(_fts_match(terms)))
            .where(Conversation.user_id == user_id)
            .order_by(_score)
            .limit(CANDIDATES)
        )
        if since is not None:
            stmt = stmt.where(Message.created_at >= since)
        if until is not None:
            stmt = stmt.where(Message.created_at < until)
        try:
            rows = (await self._session.execute(stmt)).all()
        except OperationalError:
            return []  # e.g. an FTS5-less SQLite: recall degrades to nothing, never an error
        if not rows:
            return []
        following = await self._following(rows)
        stems = [stem(t.lower()) for t in terms]
        needed = needed_matches(len(stems))
        scored = []
        for row in rows:
            summary = row.kind == MessageKind.SUMMARY
            parts = [("summary" if summary else str(row.role), row.content or "")]
            if not summary:
                parts += following.get((row.conversation_id, row.seq), [])
            held = set(content_terms(" ".join(text for _, text in parts)))
            matched = sum(1 for s in stems if s in held)
            if matched < needed:
                continue
            # bm25 is negative, better when lower; a term held counts for more than ranking.
            scored.append((matched - row.score / 100, row, parts))
        scored.sort(key=lambda item: item[0], reverse=True)
        hits: list[SearchHit] = []
        taken: dict[str, list[int]] = {}
        for score, row, parts in scored:
            seqs = taken.setdefault(row.conversation_id, [])
            # Two hits a conversation at most, and not two views of one exchange.
            if len(seqs) >= 2 or any(abs(seq - row.seq) <= FOLLOWING for seq in seqs):
                continue
            seqs.append(row.seq)
            summary = row.kind == MessageKind.SUMMARY
            hits.append(
                SearchHit(
                    conversation_id=row.conversation_id,
                    conversation_title=row.title,
                    message_id=None if summary else row.id,
                    seq=row.seq,
                    role="summary" if summary else str(row.role),
                    created_at=row.created_at,
                    snippet=_exchange(parts, terms, SNIPPET_CHARS),
                    score=round(score, 4),
                )
            )
            if len(hits) >= limit:
                break
        return hits

    async def _following(self, rows: list[Any]) -> dict[tuple[str, int], list[tuple[str, str]]]:
        """For each matched message, the searchable messages right after it."""
        wanted = {
            (row.conversation_id, row.seq + step)
            for row in rows
            if row.kind != MessageKind.SUMMARY
            for step in range(1, _LOOK_AHEAD + 1)
        }
        if not wanted:
            return {}
        found = await self._session.execute(
            select(Message.conversation_id, Message.seq, Message.role, Message.content).where(
                tuple_(Message.conversation_id, Message.seq).in_(sorted(wanted)), _searchable()
            )
        )
        by_place = {(c, seq): (str(role), content) for c, seq, role, content in found}
        out: dict[tuple[str, int], list[tuple[str, str]]] = {}
        for row in rows:
            after = [
                by_place[(row.conversation_id, row.seq + step)]
                for step in range(1, _LOOK_AHEAD + 1)
                if (row.conversation_id, row.seq + step) in by_place
            ]
            out[(row.conversation_id, row.seq)] = after[:FOLLOWING]
        return out
