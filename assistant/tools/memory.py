"""Memory: remember a fact about the user, forget facts, search past conversations.

Plain async functions over the store, one transaction each; the user and the conversation a
fact comes from are the session's (``ToolContext``), never the model's arguments. A change
tells the page ``{"type": "memory-changed"}``. The schemas are short on purpose: every request
carries them.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from assistant.store.context import estimate_tokens
from assistant.store.database import Database
from assistant.store.memories import MEMORY_MAX_CHARS, MemoryRepository
from assistant.store.search import SearchHit, SearchRepository
from assistant.tools.base import (
    Tool,
    ToolContext,
    ToolError,
    ToolLabel,
    notify_safely,
    ok,
    storable_text,
)
from assistant.tools.timespan import time_span, without_phrase

WHAT_MAX_CHARS = 300
QUERY_MAX_CHARS = 200
WHEN_MAX_CHARS = 60
# The most a search result may add to the context (estimated tokens, as the store counts).
RESULT_TOKEN_BUDGET = 600

MEMORY_CHANGED = {"type": "memory-changed"}


class _Args(BaseModel):
    # Extra keys are ignored: the user and conversation never come from the LLM.
    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")


class RememberArgs(_Args):
    fact: Annotated[str, AfterValidator(storable_text)] = Field(
        min_length=1, max_length=MEMORY_MAX_CHARS, description="In the user's words."
    )


class ForgetArgs(_Args):
    what: Annotated[str, AfterValidator(storable_text)] = Field(
        min_length=1, max_length=WHAT_MAX_CHARS, description="The fact, or what it is about."
    )


class SearchConversationsArgs(_Args):
    query: Annotated[str, AfterValidator(storable_text)] = Field(
        min_length=1, max_length=QUERY_MAX_CHARS, description="Keywords."
    )
    # Plain types in the schema (no anyOf-null) but null still accepted: models send it.
    when: Annotated[str | None, WithJsonSchema({"type": "string"})] = Field(
        None, max_length=WHEN_MAX_CHARS, description="e.g. 'last week'"
    )


async def remember(
    db: Database, user_id: int, fact: str, conversation_id: str | None = None
) -> dict[str, Any]:
    async with db.transaction() as session:
        done = await MemoryRepository(session).remember(
            user_id, fact, conversation_id=conversation_id
        )
    result = ok(remembered=done.memory.text)
    if not done.created:
        result["already_known"] = True
    if done.superseded:
        result["replaced"] = [m.text for m in done.superseded]
    return result


async def forget(db: Database, user_id: int, what: str) -> dict[str, Any]:
    async with db.transaction() as session:
        removed = await MemoryRepository(session).forget(user_id, what)
    if not removed:
        raise ToolError(f"nothing remembered matches {what!r}")
    return ok(forgotten=[m.text for m in removed])


async def search_conversations(
    db: Database,
    user_id: int,
    query: str,
    when: str | None = None,
    *,
    now: datetime,
    timezone: str = "UTC",
) -> dict[str, Any]:
    """At most five dated snippets naming their conversation, within ~600 tokens; an empty
    list when nothing relevant was said (then the model should say it doesn't know)."""
    span = None
    if when:
        span = time_span(when, now, timezone)
        if span is None:
            raise ToolError(f"can't tell when {when!r} is; try e.g. 'last week' or 'in March'")
    found_in_query = time_span(query, now, timezone, other_dates=False)
    if found_in_query is not None:
        # A time said in the query bounds it too, and is not a word to look for.
        query = without_phrase(query, found_in_query.phrase) or query
        span = span or found_in_query
    async with db.session() as session:  # reads only
        hits = await SearchRepository(session).search(
            user_id,
            query,
            since=span.since if span else None,
            until=span.until if span else None,
        )
    zone = ZoneInfo(timezone)
    results = [_result(hit, zone) for hit in hits]
    while results and _tokens(results) > RESULT_TOKEN_BUDGET:
        results.pop()
    if not results:
        return ok(results=[], note="Nothing relevant was said.")
    return ok(results=results)


def _result(hit: SearchHit, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "conversation": hit.conversation_title or "untitled",
        "date": hit.created_at.astimezone(zone).strftime("%a %d %b %Y"),
        "said": hit.snippet,
    }


def _tokens(results: list[dict[str, Any]]) -> int:
    return estimate_tokens({"content": json.dumps(results)})


async def _remember(context: ToolContext, args: RememberArgs) -> dict[str, Any]:
    result = await remember(context.db, context.user_id, args.fact, context.conversation_id)
    if not result.get("already_known"):
        await notify_safely(context, MEMORY_CHANGED)
    return result


async def _forget(context: ToolContext, args: ForgetArgs) -> dict[str, Any]:
    result = await forget(context.db, context.user_id, args.what)
    await notify_safely(context, MEMORY_CHANGED)
    return result


async def _search(context: ToolContext, args: SearchConversationsArgs) -> dict[str, Any]:
    return await search_conversations(
        context.db,
        context.user_id,
        args.query,
        args.when,
        now=context.now(),
        timezone=context.timezone,
    )


REMEMBER = Tool(
    name="remember",
    description="Remember a fact about the user, when asked.",
    arguments=RememberArgs,
    run=_remember,
    label=ToolLabel("remembered", "remembering"),
)
FORGET = Tool(
    name="forget",
    description="Forget remembered facts, when asked.",
    arguments=ForgetArgs,
    run=_forget,
    label=ToolLabel("forgot", "forgetting"),
)
SEARCH_CONVERSATIONS = Tool(
    name="search_conversations",
    description="Search past conversations.",
    arguments=SearchConversationsArgs,
    run=_search,
    label=ToolLabel("searched past conversations", "searching past conversations"),
)

MEMORY_TOOLS: list[Tool] = [REMEMBER, FORGET, SEARCH_CONVERSATIONS]
