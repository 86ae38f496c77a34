"""What differs between the two databases the store runs on, in one place.

SQLite (the default, one household on one machine) and PostgreSQL (several server processes
sharing one database) take the same repositories; the few statements that must be spelled
differently are built here, chosen by the session's dialect.

Full-text search: SQLite uses an FTS5 table kept in step by triggers; PostgreSQL a GIN index over
``to_tsvector('assistant', column)``, in the text search configuration the first migration
creates (English stems, accents folded, no stop words: as FTS5's tokenizer). Both take the same
free text and quote it, so nothing the user or the LLM types is read as search syntax.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, Insert, Table, func, literal_column, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

# The text search configuration of migration 0001 (PostgreSQL only). Written as a constant,
# not a parameter, so that the planner matches the expression of the GIN index.
TS_CONFIG = "assistant"
_TS_CONFIG = literal_column(f"'{TS_CONFIG}'::regconfig")

_WORD = re.compile(r"\w+")
MAX_QUERY_TERMS = 32


def is_search_object(name: str | None, type_: str) -> bool:
    """Made by hand in the migrations for full-text search, not mapped (autogenerate leaves it
    alone): on SQLite the ``*_fts`` FTS5 tables and their shadow tables, on PostgreSQL the GIN
    indexes named ``ix_<table>_<column>_fts``."""
    if name is None:
        return False
    if type_ == "table":
        return "_fts" in name
    return type_ == "index" and name.endswith("_fts")


def dialect_name(session: AsyncSession) -> str:
    """ "sqlite" or "postgresql": the database this session talks to."""
    return session.get_bind().dialect.name


def is_postgresql(session: AsyncSession) -> bool:
    return dialect_name(session) == "postgresql"


def insert_ignoring_conflict(
    session: AsyncSession, table: Table | Any, values: dict[str, Any], index_elements: list[str]
) -> Insert:
    """``INSERT … ON CONFLICT (index_elements) DO NOTHING`` in the session's dialect."""
    module = postgresql if is_postgresql(session) else sqlite
    return module.insert(table).values(values).on_conflict_do_nothing(index_elements=index_elements)


def search_words(text: str) -> list[str]:
    """The words of free text a search looks for (at most ``MAX_QUERY_TERMS``)."""
    return _WORD.findall(text)[:MAX_QUERY_TERMS]


def tsvector(column: Any) -> ColumnElement[Any]:
    """The document side of a PostgreSQL search: the same expression as the GIN index's, so the
    planner uses it."""
    return func.to_tsvector(_TS_CONFIG, column)


def tsquery(words: list[str]) -> ColumnElement[Any]:
    """Any of ``words`` (OR, as the FTS5 query; ranking puts notes with more of them first).
    ``plainto_tsquery`` takes each word as plain text: nothing in it is an operator."""
    queries = [func.plainto_tsquery(_TS_CONFIG, word) for word in words]
    query = queries[0]
    for more in queries[1:]:
        query = query.op("||")(more)
    return query


def ts_matches(column: Any, words: list[str]) -> tuple[ColumnElement[bool], ColumnElement[Any]]:
    """(WHERE clause, rank to ORDER BY descending) for a PostgreSQL search of ``column``."""
    query = tsquery(words)
    document = tsvector(column)
    return document.op("@@")(query), func.ts_rank(document, query)


def like_any(column: Any, terms: list[str]) -> ColumnElement[bool]:
    """``column`` contains any of ``terms``, case-insensitively, wildcards taken literally."""
    return or_(*(column.ilike(like_pattern(t), escape="\\") for t in terms))


def like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
