"""The memory tools: remember, forget, search_conversations, as the LLM calls them."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import update

from assistant.store.context import estimate_tokens
from assistant.store.memories import MemoryRepository, memory_block
from assistant.store.models import Message
from assistant.store.repository import ConversationRepository
from assistant.tools.memory import FORGET, REMEMBER, SEARCH_CONVERSATIONS
from tests.tools.conftest import NOW

CHANGED = {"type": "memory-changed"}


async def current(context) -> list[str]:
    async with context.db.transaction() as session:
        return [m.text for m in await MemoryRepository(session).current(context.user_id)]


async def said(context, *lines: tuple[str, str], days_ago: float = 0) -> str:
    """A past conversation of the context's user, said ``days_ago`` before NOW."""
    async with context.db.transaction() as session:
        repo = ConversationRepository(session, context.user_id)
        made = await repo.create()
        for role, content in lines:
            message = await repo.append(made.id, role, content)
            await session.execute(
                update(Message)
                .where(Message.id == message.id)
                .values(created_at=NOW - timedelta(days=days_ago))
            )
        return made.id


async def test_remember_stores_once_in_this_conversation_and_tells_the_page(
    tool_context, call_tool
):
    result = await call_tool(REMEMBER, fact="  My sister is called Ana ", user_id=999)
    assert result == {"ok": True, "remembered": "My sister is called Ana"}
    assert tool_context.notifications == [CHANGED]

    again = await call_tool(REMEMBER, fact="my sister's name is Ana")
    assert again == {"ok": True, "remembered": "My sister is called Ana", "already_known": True}
    assert tool_context.notifications == [CHANGED]  # nothing changed the second time
    async with tool_context.db.transaction() as session:
        [memory] = await MemoryRepository(session).current(tool_context.user_id)
    assert memory.source_conversation_id == tool_context.conversation_id


async def test_remember_supersedes_and_says_what_it_replaced(tool_context, call_tool):
    await call_tool(REMEMBER, fact="I live in Paris")
    result = await call_tool(REMEMBER, fact="I moved to Lisbon")
    assert result == {
        "ok": True,
        "remembered": "I moved to Lisbon",
        "replaced": ["I live in Paris"],
    }
    assert await current(tool_context) == ["I moved to Lisbon"]


async def test_forget_by_description_and_gone_from_the_block(tool_context, call_tool):
    await call_tool(REMEMBER, fact="I live in Paris")
    await call_tool(REMEMBER, fact="I live in Lisbon")
    await call_tool(REMEMBER, fact="My dog is called Rex")
    tool_context.notifications.clear()

    result = await call_tool(FORGET, what="where I live")

    assert result == {"ok": True, "forgotten": ["I live in Paris", "I live in Lisbon"]}
    assert tool_context.notifications == [CHANGED]
    async with tool_context.db.transaction() as session:
        block = memory_block(await MemoryRepository(session).current(tool_context.user_id), 400)
    assert "Rex" in block and "Lisbon" not in block and "Paris" not in block
    assert (await call_tool(REMEMBER, fact="I have a cat")).get("replaced") is None


async def test_forget_nothing_matching_is_an_error_and_changes_nothing(tool_context, call_tool):
    await call_tool(REMEMBER, fact="I like jazz")
    tool_context.notifications.clear()
    result = await call_tool(FORGET, what="my brother's birthday")
    assert result["ok"] is False and "nothing remembered" in result["error"]
    assert await current(tool_context) == ["I like jazz"]
    assert tool_context.notifications == []


async def test_another_user_can_neither_forget_nor_find_it(tool_context, call_tool, make_context):
    await call_tool(REMEMBER, fact="My locker code is 4711")
    await said(tool_context, ("user", "the locker code at the gym is 4711"), days_ago=2)
    bob = await make_context("bob")

    assert (await bob.call(FORGET, what="my locker code"))["ok"] is False
    assert (await bob.call(SEARCH_CONVERSATIONS, query="locker code"))["results"] == []
    assert await current(tool_context) == ["My locker code is 4711"]
    assert (await call_tool(SEARCH_CONVERSATIONS, query="locker code"))["results"]


async def test_search_finds_another_conversation_dated_and_named(tool_context, call_tool):
    await said(
        tool_context,
        ("user", "Let's plan the Porto trip"),
        ("assistant", "Train or plane?"),
        ("user", "The train, leaving the 12th of May"),
        days_ago=6,
    )
    result = await call_tool(SEARCH_CONVERSATIONS, query="Porto trip")
    [hit] = result["results"]
    assert hit["conversation"] == "Let's plan the Porto trip"
    assert hit["date"] == "Sat 08 Mar 2025"
    assert "train" in hit["said"]
    assert tool_context.notifications == []


async def test_search_with_time_bounds_in_the_users_zone(make_context):
    # 15:30 UTC on Friday 14 March is already Saturday in Tokyo: "yesterday" is Friday there.
    tokyo = await make_context("kenji", timezone="Asia/Tokyo")
    await said(tokyo, ("user", "the plumber comes on Tuesday"), days_ago=0.2)
    await said(tokyo, ("user", "the plumber cancelled"), days_ago=9)

    yesterday = await tokyo.call(SEARCH_CONVERSATIONS, query="plumber", when="yesterday")
    assert [h["said"] for h in yesterday["results"]] == ["User: the plumber comes on Tuesday"]
    said_in_query = await tokyo.call(SEARCH_CONVERSATIONS, query="plumber last week")
    assert [h["said"] for h in said_in_query["results"]] == ["User: the plumber cancelled"]
    everything = await tokyo.call(SEARCH_CONVERSATIONS, query="plumber")
    assert len(everything["results"]) == 2
    unreadable = await tokyo.call(SEARCH_CONVERSATIONS, query="plumber", when="whenever")
    assert unreadable["ok"] is False and "last week" in unreadable["error"]


async def test_search_answers_nothing_when_nothing_is_relevant(tool_context, call_tool):
    await said(tool_context, ("user", "my dentist appointment is on Friday"), days_ago=1)
    result = await call_tool(SEARCH_CONVERSATIONS, query="cat vet appointment")
    assert result == {"ok": True, "results": [], "note": "Nothing relevant was said."}


async def test_search_results_stay_within_their_token_budget(tool_context, call_tool):
    long = "We talked about the garden shed roof and " + "the weather and the neighbours " * 40
    for n in range(8):
        await said(tool_context, ("user", f"{long} {n}"), ("assistant", long), days_ago=n)
    result = await call_tool(SEARCH_CONVERSATIONS, query="garden shed roof")
    assert 1 <= len(result["results"]) <= 5
    assert estimate_tokens({"content": json.dumps(result["results"])}) <= 600
