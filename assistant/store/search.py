"""Recall across conversations: full-text search over what the user and the assistant said.

``messages_fts`` (migration 0004) indexes the text of user and assistant messages and of
summaries, never tool calls or results; triggers keep it in step with the messages table,
including a deleted conversation's messages. On PostgreSQL a GIN index over the same messages'
tsvector takes its place: the candidate retrieval of each (the match and the per-word counts) is
a function per database (search_postgres.py for PostgreSQL's), the ranking below is shared.

A hit is a matched message with the (at most two) messages that follow it in its conversation:
an answer often comes a turn after the words that name its topic ("the Porto trip?" … "we'll
take the train").

Relevance, without a language model: the query's content terms (stopwords and words about
talking or asking, like "said" or "name", left out) are matched against each hit, each also as
its paraphrases (terms.PARAPHRASES, terms.BROADER). A hit is relevant when it holds more than
half of what the query is about (aspects like "plans" only rank; a third within explicit time
bounds), the query's rarest word said anywhere (unless time-bounded), every person ("my
brother's car" is not answered by "my car"; a name the user's facts give the person stands for
it) and every name ("Paris", "Leo") it says. Nothing relevant gives an empty list, so the model
can say it does not know instead of reading out the nearest noise.
bench/README.md has what this rule trades (recall against abstention, on the bench's cases).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    String,
    and_,
    bindparam,
    column,
    func,
    literal_column,
    select,
    table,
    type_coerce,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.store import dialects, search_postgres
from assistant.store.memories import subject_of
from assistant.store.models import Conversation, Memory, Message, MessageKind, Role
from assistant.store.terms import (
    ASPECTS,
    BROADER,
    META_WORDS,
    PARAPHRASES,
    RELATIONS,
    SYNONYMS,
    content_terms,
    stem,
    words,
)

MAX_QUERY_TERMS = 12
# A word in this many messages or more is common (its count stops there).
COMMON = 500
# The share of the query's subject a hit must hold more than; within explicit time bounds, at
# least this less, as the bounds already say much of what is asked for.
RELEVANCE = 0.5
BOUNDED_RELEVANCE = 0.34
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


def named_terms(query: str) -> set[str]:
    """The stems of the names in a query ("Paris", "Leo's", "French"): capitalised words that
    carry meaning. A hit must hold them: "the hotel in Paris" is not answered by a Lisbon one."""
    named = set()
    for raw in re.findall(r"[^\W\d_][\w'’-]*", query):
        if raw[:1].isupper() and raw != "I":
            named.update(content_terms(raw, META_WORDS))
    return named


def _variants(terms: list[str]) -> list[str]:
    """The terms, each also as the other words for it ("father" finds "dad")."""
    variants: dict[str, None] = {}
    for term in terms:
        for word in (term, *_OTHER_WORDS.get(stem(term.lower()), ())):
            for variant in (word, *_SPELLINGS.get(word, ())):
                variants.setdefault(variant, None)
    return list(variants)


def _stem_of(word: str) -> str:
    return stem(SYNONYMS.get(word, word))


_RELATION_STEMS = frozenset(stem(word) for word in RELATIONS)
_ASPECT_STEMS = frozenset(stem(word) for word in ASPECTS)
_SPELLINGS: dict[str, list[str]] = {}
for _variant, _canonical in SYNONYMS.items():
    _SPELLINGS.setdefault(_canonical, []).append(_variant)
# A query stem → the stems a hit may hold instead, and the words to look them up by.
_ALTERNATIVES: dict[str, set[str]] = {}
_OTHER_WORDS: dict[str, list[str]] = {}
for _line in PARAPHRASES.strip().splitlines():
    _group = _line.split()
    for _word in _group:
        _ALTERNATIVES.setdefault(_stem_of(_word), set()).update(_stem_of(w) for w in _group)
        _OTHER_WORDS.setdefault(_stem_of(_word), []).extend(w for w in _group if w != _word)
for _word, _narrower in BROADER.items():
    for _same in sorted(_ALTERNATIVES.get(_stem_of(_word), {_stem_of(_word)})):
        _ALTERNATIVES.setdefault(_same, {_same}).update(map(_stem_of, _narrower))
        _OTHER_WORDS.setdefault(_same, []).extend(_narrower)


def alternatives(term: str) -> set[str]:
    """The stems that stand for a query's stem in a hit: itself and its paraphrases."""
    return _ALTERNATIVES.get(term, {term})


def _name_subject(relation: str) -> str:
    """The subject the store gives a fact naming this person ("my son is called Leo")."""
    return subject_of(f"my {relation} is called Zed").subject


_NAME_SUBJECTS = {stem(word): _name_subject(word) for word in RELATIONS}


def relevance(held: set[str], terms: list[str]) -> float:
    """The share of the query's content terms (stems) a hit holds."""
    return sum(1 for term in terms if term in held) / len(terms) if terms else 0.0


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
        try:
            counts = await self._document_counts(terms, user_id)
        except OperationalError:
            return []  # e.g. an FTS5-less SQLite: recall degrades to nothing, never an error
        # Words in very many messages find little and cost much: the rarer ones are looked up,
        # and all of them still count for relevance.
        looked_up = [t for t in terms if counts[t] < COMMON] or [min(terms, key=counts.__getitem__)]
        postgresql = dialects.is_postgresql(self._session)
        variants = _variants(looked_up)
        stmt = _candidates_statement(
            postgresql, len(variants), since is not None, until is not None
        )
        params: dict[str, Any] = {"user_id": user_id, "since": since, "until": until}
        if postgresql:
            params.update(search_postgres.word_params(variants))
        else:
            params["match"] = _fts_quoted(variants)
        rows = (await self._session.execute(stmt, params)).all()
        if not rows:
            return []
        stems = list(dict.fromkeys(stem(t.lower()) for t in terms))
        said = {stem(t.lower()): counts[t] for t in terms}
        # Rarer words say more: of two hits holding as many terms, the one with the rarer ones
        # comes first (bm25 alone favours short messages, of which there are many copies).
        rarity = {term: math.log(1 + COMMON / (1 + n)) for term, n in said.items()}
        bounded = since is not None or until is not None
        relations = {term for term in stems if term in _RELATION_STEMS}
        named = named_terms(query)
        person_names = await self._person_names(user_id, relations)
        # What is asked about; the side of it asked for ("plans", "went") only ranks.
        subject = [term for term in stems if term not in _ASPECT_STEMS] or stems
        # The most particular thing asked about, among the words said anywhere (a word said
        # nowhere tells no hit from another): "Leo's basketball coach" is not answered by
        # "Leo's football coach". Persons and names have their own rule.
        telling = {
            t: n for t, n in said.items() if n and t in subject and t not in relations | named
        }
        rarest = {t for t, n in telling.items() if n == min(telling.values())} if telling else set()
        scored = []
        for row in rows:
            summary = row.kind == MessageKind.SUMMARY
            parts = [("summary" if summary else str(row.role), row.content or "")]
            if not summary:
                parts += [_split(row.next1), _split(row.next2)][: FOLLOWING if row.next1 else 0]
                parts = [part for part in parts if part[1]]
            text = " ".join(text for _, text in parts)
            held = set(content_terms(text))
            holds = {term for term in {*stems, *named} if alternatives(term) & held}
            holds |= {person for person in relations if person_names[person] & held}
            if not (relations | named) <= holds:
                continue
            if rarest and not (rarest & holds) and not bounded:
                continue
            coverage = relevance(holds, subject)
            if bounded and coverage < BOUNDED_RELEVANCE or not bounded and coverage <= RELEVANCE:
                continue
            weight = sum(rarity[term] for term in stems if term in holds)
            # A user's words come with the answer that follows them; bm25 is negative, better
            # when lower.
            user = not summary and str(row.role) == "user"
            scored.append(((coverage, weight, user, -row.score), row, parts))
        scored.sort(key=lambda item: item[0], reverse=True)
        hits: list[SearchHit] = []
        taken: dict[str, list[int]] = {}
        texts: set[str] = set()
        for score, row, parts in scored:
            # The same words said again (an assistant's stock answer) are one hit, not five.
            said_text = " ".join((row.content or "").lower().split())
            if said_text in texts:
                continue
            seqs = taken.setdefault(row.conversation_id, [])
            # Two hits a conversation at most, and not two views of one exchange.
            if len(seqs) >= 2 or any(abs(seq - row.seq) <= FOLLOWING for seq in seqs):
                continue
            seqs.append(row.seq)
            texts.add(said_text)
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
                    score=round(score[0] + score[1] / 100, 4),
                )
            )
            if len(hits) >= limit:
                break
        return hits

    async def _person_names(self, user_id: int, relations: set[str]) -> dict[str, set[str]]:
        """The names the user's current facts give the persons asked about ("my son is called
        Leo"): "my son's coach" is answered by "Leo's coach" only when Leo is known to be the
        son."""
        names: dict[str, set[str]] = {person: set() for person in relations}
        subjects = {_NAME_SUBJECTS[person]: person for person in relations}
        if not subjects:
            return names
        # Superseded ones are left out here, not in SQL: with that condition SQLite walks every
        # current fact by the block's index instead of these subjects' few (8 ms at 10k facts).
        rows = await self._session.execute(
            select(Memory.text, Memory.superseded_at).where(
                Memory.user_id == user_id, Memory.subject.in_(list(subjects))
            )
        )
        for text, superseded_at in rows:
            if superseded_at is not None:
                continue
            fact = subject_of(text)
            if fact.subject in subjects:
                names[subjects[fact.subject]].update(fact.value)
        return names

    async def _document_counts(self, terms: list[str], user_id: int) -> dict[str, int]:
        """In how many of the user's messages each term is, counted up to ``COMMON``: one
        statement, each count stopping at the cap, so a common word costs no more than a rare
        one. The user's own: another user's words must not change what this one finds."""
        count = (
            search_postgres.document_counts
            if dialects.is_postgresql(self._session)
            else _sqlite_document_counts
        )
        row = await count(self._session, [_variants([term]) for term in terms], user_id, COMMON)
        return dict(zip(terms, row, strict=True))


# What is read of each candidate, besides its score and the messages that follow it.
_COLUMNS = (
    Message.id,
    Message.conversation_id,
    Conversation.title,
    Message.seq,
    Message.kind,
    Message.role,
    Message.created_at,
    Message.content,
)


@lru_cache(maxsize=256)
def _candidates_statement(postgresql: bool, words: int, since: bool, until: bool) -> Any:
    """The candidates' statement for one shape of search, made once and reused with its
    parameters (``user_id``, ``since``, ``until``, and ``match`` or ``word<n>``): building it
    anew cost more than SQLite took to run it (bench/README.md, memory)."""
    inner = (
        search_postgres.candidates(list(_COLUMNS), search_postgres.word_slots(words))
        if postgresql
        else _sqlite_candidates(list(_COLUMNS), bindparam("match", type_=String))
    )
    stmt = (
        inner.join(Conversation, Conversation.id == Message.conversation_id)
        .where(Conversation.user_id == bindparam("user_id"))
        .limit(CANDIDATES)
    )
    if since:
        stmt = stmt.where(Message.created_at >= bindparam("since"))
    if until:
        stmt = stmt.where(Message.created_at < bindparam("until"))
    return _with_following(stmt)


def _sqlite_candidates(columns: list[Any], match: Any) -> Any:
    """``columns`` of the messages ``messages_fts`` matches (``match``: an FTS5 query, as
    ``_fts_quoted`` makes), with their bm25 ``score``, best first (search_postgres.candidates
    on PostgreSQL)."""
    return (
        select(*columns, _score.label("score"))
        .select_from(_messages_fts)
        .join(Message, Message.id == _messages_fts.c.rowid)
        .where(literal_column("messages_fts").op("MATCH")(match))
        .order_by(_score)
    )


@lru_cache(maxsize=32)
def _sqlite_counts_statement(terms: int) -> Any:
    """One count a term (parameters ``match<n>``, ``user_id``, ``cap``), made once a size."""
    counts = [
        select(func.count())
        .select_from(
            select(literal_column("1"))
            .select_from(_messages_fts)
            .join(Message, Message.id == _messages_fts.c.rowid)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(literal_column("messages_fts").op("MATCH")(bindparam(f"match{n}", type_=String)))
            .where(Conversation.user_id == bindparam("user_id"))
            .limit(bindparam("cap"))
            .subquery()
        )
        .scalar_subquery()
        for n in range(terms)
    ]
    return select(*counts)


async def _sqlite_document_counts(
    session: AsyncSession, variants_per_term: list[list[str]], user_id: int, cap: int
) -> list[int]:
    params: dict[str, Any] = {"user_id": user_id, "cap": cap}
    params.update({f"match{n}": _fts_quoted(v) for n, v in enumerate(variants_per_term)})
    statement = _sqlite_counts_statement(len(variants_per_term))
    return list((await session.execute(statement, params)).one())


def _fts_quoted(variants: list[str]) -> str:
    """Any of ``variants``, each quoted: FTS5 syntax in what the model typed stays text."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in variants)


_SEPARATOR = "\x1f"


def _split(labelled: str | None) -> tuple[str, str]:
    role, _, text = (labelled or "").partition(_SEPARATOR)
    return role, text


def _with_following(candidates: Any) -> Any:
    """The candidates, each with the (at most two) searchable messages that follow it in its
    conversation, in the same statement: correlated subqueries that walk the (conversation_id,
    seq) index for the candidates only, after the ranking has cut them to ``CANDIDATES``."""
    cand = candidates.subquery("cand")
    after = [
        select(type_coerce(Message.role, String) + _SEPARATOR + Message.content)
        .where(
            Message.conversation_id == cand.c.conversation_id,
            Message.seq > cand.c.seq,
            Message.seq <= cand.c.seq + _LOOK_AHEAD,
            cand.c.kind != MessageKind.SUMMARY,
            _searchable(),
        )
        .order_by(Message.seq)
        .limit(1)
        .offset(skip)
        .correlate(cand)
        .scalar_subquery()
        for skip in range(FOLLOWING)
    ]
    return select(cand, after[0].label("next1"), after[1].label("next2")).order_by(cand.c.score)
