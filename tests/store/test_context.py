import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.store.context import (
    SUMMARY_PREFIX,
    MessageView,
    estimate_tokens,
    load_context,
    to_openai_messages,
)
from assistant.store.database import Database
from assistant.store.models import Message
from assistant.store.repository import ConversationRepository, UserRepository

from .conftest import sqlite_url

ALLOWED_KEYS = {
    "user": [{"role", "content"}],
    "system": [{"role", "content"}],
    "tool": [{"role", "tool_call_id", "content"}],
    "assistant": [{"role", "content"}, {"role", "tool_calls"}, {"role", "content", "tool_calls"}],
}


def call(call_id: str, name: str = "get_weather", arguments: str = "{}") -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def user(content: str | None) -> MessageView:
    return MessageView(role="user", content=content)


def assistant(content: str | None = None, *calls: dict[str, Any], **kw: Any) -> MessageView:
    return MessageView(role="assistant", content=content, tool_calls=list(calls) or None, **kw)


def tool(call_id: str | None, content: str | None = "ok") -> MessageView:
    return MessageView(role="tool", content=content, tool_call_id=call_id)


def summary(content: str, until_seq: int = 0) -> MessageView:
    return MessageView(role="system", kind="summary", content=content, seq=until_seq)


def assert_valid(messages: list[dict[str, Any]]) -> None:
    """Everything Groq/OpenAI require of a message list, and nothing extra."""
    i = 0
    while i < len(messages):
        message = messages[i]
        role = message["role"]
        assert set(message) in ALLOWED_KEYS[role], message
        if "content" in message:
            assert isinstance(message["content"], str)
        if role in ("user", "system") or (role == "assistant" and "tool_calls" not in message):
            assert message["content"].strip(), message
        assert role != "tool", f"tool message without its assistant call at {i}: {messages}"
        if role == "assistant" and "tool_calls" in message:
            calls = message["tool_calls"]
            assert calls
            for c in calls:
                assert set(c) == {"id", "type", "function"} and c["type"] == "function"
                assert set(c["function"]) == {"name", "arguments"}
                assert isinstance(c["function"]["arguments"], str)
            ids = [c["id"] for c in calls]
            assert len(set(ids)) == len(ids)
            results = messages[i + 1 : i + 1 + len(ids)]
            assert [r["role"] for r in results] == ["tool"] * len(ids), messages
            assert sorted(r["tool_call_id"] for r in results) == sorted(ids)
            for r in results:
                assert set(r) == {"role", "tool_call_id", "content"}
                assert isinstance(r["content"], str)
            i += len(ids)
        i += 1


def assert_subsequence(needles: list[Any], haystack: list[Any]) -> None:
    it = iter(haystack)
    assert all(any(n == h for h in it) for n in needles), (needles, haystack)


# --- to_openai_messages: examples -------------------------------------------------------------


def test_plain_conversation_round_trips() -> None:
    rows = [user("hi"), assistant("hello!"), user("bye")]
    assert to_openai_messages(rows) == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello!"},
        {"role": "user", "content": "bye"},
    ]


def test_tool_call_group_is_kept_and_cleaned() -> None:
    noisy = {**call("c1", arguments='{"city":"Paris"}'), "index": 0}
    rows = [
        user("weather?"),
        assistant(None, noisy, {**call("c2"), "function": {"name": "t", "arguments": {"a": 1}}}),
        tool("c2", "later one first"),
        tool("c1", '{"temp": 21}'),
        assistant("21 degrees"),
    ]
    assert to_openai_messages(rows) == [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "tool_calls": [
                call("c1", arguments='{"city":"Paris"}'),
                call("c2", name="t", arguments='{"a": 1}'),
            ],
        },
        {"role": "tool", "tool_call_id": "c2", "content": "later one first"},
        {"role": "tool", "tool_call_id": "c1", "content": '{"temp": 21}'},
        {"role": "assistant", "content": "21 degrees"},
    ]


def test_unanswered_calls_are_dropped() -> None:
    rows = [
        user("do two things"),
        assistant("Sure.", call("a"), call("b")),
        tool("a", "done a"),
        assistant(None, call("c")),  # crashed before any result: dropped entirely
        assistant("Let me check", call("d")),  # keeps its text
        user("thanks"),
    ]
    assert to_openai_messages(rows) == [
        {"role": "user", "content": "do two things"},
        {"role": "assistant", "content": "Sure.", "tool_calls": [call("a")]},
        {"role": "tool", "tool_call_id": "a", "content": "done a"},
        {"role": "assistant", "content": "Let me check"},
        {"role": "user", "content": "thanks"},
    ]


def test_orphan_and_duplicate_results() -> None:
    rows = [
        tool("zzz", "orphan before anything"),
        user("go"),
        assistant(None, call("a")),
        tool("a", "IN_PROGRESS"),
        tool("a", "final"),
        tool(None, "no id"),
        tool("b", "unknown id"),
    ]
    assert to_openai_messages(rows) == [
        {"role": "user", "content": "go"},
        {"role": "assistant", "tool_calls": [call("a")]},
        {"role": "tool", "tool_call_id": "a", "content": "final"},
    ]


def test_late_result_is_moved_next_to_its_call() -> None:
    rows = [user("set a timer"), assistant(None, call("t")), user("hello?"), tool("t", "set")]
    assert to_openai_messages(rows) == [
        {"role": "user", "content": "set a timer"},
        {"role": "assistant", "tool_calls": [call("t")]},
        {"role": "tool", "tool_call_id": "t", "content": "set"},
        {"role": "user", "content": "hello?"},
    ]


def test_empty_messages_dropped_interrupted_text_kept() -> None:
    rows = [
        user(""),
        user("   "),
        user("tell me a story"),
        assistant("", interrupted=True),
        assistant(None),
        assistant("Once upon a", interrupted=True),
        user("stop"),
    ]
    assert to_openai_messages(rows) == [
        {"role": "user", "content": "tell me a story"},
        {"role": "assistant", "content": "Once upon a"},
        {"role": "user", "content": "stop"},
    ]


def test_malformed_tool_calls_are_dropped() -> None:
    rows = [
        user("x"),
        assistant(
            "text",
            {"id": None, "function": {"name": "f", "arguments": "{}"}},
            {"id": "no_fn"},
            {"id": "no_name", "function": {"arguments": "{}"}},
            call("dup"),
            call("dup", name="other"),
        ),
        tool("dup", "r"),
    ]
    assert to_openai_messages(rows)[1] == {
        "role": "assistant",
        "content": "text",
        "tool_calls": [call("dup")],
    }


def test_summary_becomes_a_user_message() -> None:
    assert to_openai_messages([summary("we talked about cats"), user("and dogs?")]) == [
        {"role": "user", "content": SUMMARY_PREFIX + "we talked about cats"},
        {"role": "user", "content": "and dogs?"},
    ]


def test_estimate_tokens_counts_tool_calls() -> None:
    plain = estimate_tokens({"role": "assistant", "content": "x" * 400})
    assert 100 <= plain <= 110
    big_call = call("c", arguments=json.dumps({"q": "y" * 400}))
    assert estimate_tokens({"role": "assistant", "tool_calls": [big_call]}) > 100
    assert estimate_tokens({"role": "user", "content": ""}) >= 1


# --- to_openai_messages: properties ---------------------------------------------------------

CALL_IDS = st.sampled_from(["c1", "c2", "c3", "c4"])  # few ids: lots of matches and clashes
TEXT = st.one_of(
    st.none(), st.just(""), st.just("  \n"), st.text(min_size=1, max_size=60), st.just("x" * 300)
)
TOOL_CALL = st.one_of(
    st.builds(
        lambda i, name, args: {
            "id": i,
            "type": "function",
            "function": {"name": name, "arguments": args},
        },
        CALL_IDS,
        st.sampled_from(["get_weather", "add_note"]),
        st.one_of(st.just("{}"), st.text(max_size=20)),
    ),
    st.builds(lambda i: {**call(i), "index": 3}, CALL_IDS),
    st.builds(lambda i: {"id": i, "function": {"arguments": "{}"}}, CALL_IDS),
    st.just({"garbage": True}),
)
ROW = st.one_of(
    st.builds(user, TEXT),
    st.builds(MessageView, role=st.just("assistant"), content=TEXT, interrupted=st.booleans()),
    st.builds(
        MessageView,
        role=st.just("assistant"),
        content=TEXT,
        tool_calls=st.lists(TOOL_CALL, min_size=1, max_size=3),
    ),
    st.builds(tool, st.one_of(st.none(), CALL_IDS), TEXT),
    st.builds(MessageView, role=st.just("system"), content=TEXT),
)
# A summary's until_seq is clamped below its own seq when stored.
SUMMARY = st.builds(summary, st.text(min_size=1, max_size=30), st.integers(0, 40))
HISTORY = st.lists(st.one_of(ROW, SUMMARY), max_size=40)


def _plain(row: MessageView) -> tuple[str, str] | None:
    """(role, content) a non-tool row is expected to produce, if any."""
    if not (row.content and row.content.strip()):
        return None
    if row.kind == "summary":
        return ("user", SUMMARY_PREFIX + row.content)
    if row.role in ("user", "system", "assistant"):
        return (row.role, row.content)
    return None


@settings(max_examples=400, database=None)
@given(HISTORY)
def test_output_is_always_valid(rows: list[MessageView]) -> None:
    messages = to_openai_messages(rows)
    assert_valid(messages)

    # Chronological order of everything except relocated tool results is preserved, and
    # nothing with text is ever lost.
    produced = [(m["role"], m.get("content")) for m in messages if m["role"] != "tool"]
    produced = [p for p in produced if p[1] is not None]
    expected = [p for p in map(_plain, rows) if p is not None]
    assert produced == expected

    # Every tool result shown is the last stored result for that call.
    for m in messages:
        if m["role"] == "tool":
            assert any(
                r.role == "tool"
                and r.tool_call_id == m["tool_call_id"]
                and (r.content or "") == m["content"]
                for r in rows
            )

    # The newest row always survives when it can stand on its own.
    if rows and _plain(rows[-1]) is not None and not rows[-1].tool_calls:
        assert (messages[-1]["role"], messages[-1]["content"]) == _plain(rows[-1])


# --- load_context against a real database ----------------------------------------------------


async def _bulk_insert(
    session: AsyncSession, conversation_id: str, rows: list[MessageView]
) -> None:
    if not rows:
        return
    await session.execute(
        Message.__table__.insert(),
        [
            {
                "conversation_id": conversation_id,
                "seq": seq,
                "kind": row.kind,
                "role": row.role,
                "content": row.content,
                "tool_calls": row.tool_calls,
                "tool_call_id": row.tool_call_id,
                "interrupted": row.interrupted,
                "summary_until_seq": min(row.seq, seq - 1) if row.kind == "summary" else None,
            }
            for seq, row in enumerate(rows, start=1)
        ],
    )
    await session.commit()


def _units_of(messages: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    units: list[list[dict[str, Any]]] = []
    for m in messages:
        if m["role"] == "tool":
            units[-1].append(m)
        else:
            units.append([m])
    return units


async def _check_load_context(
    db: Database, user_id: int, rows: list[MessageView], budget: int, page_size: int
) -> None:
    async with db.transaction() as session:
        conv = await ConversationRepository(session, user_id).create()
        await _bulk_insert(session, conv.id, rows)
        stored = await ConversationRepository(session, user_id).messages(conv.id, limit=10_000)
        context = await load_context(
            session, user_id, conv.id, budget, page_size=page_size, max_rows=10**6
        )

    assert_valid(context)
    summaries = [(seq, row) for seq, row in enumerate(rows, start=1) if row.kind == "summary"]
    floor, head = 0, []
    if summaries:
        seq, latest = summaries[-1]
        floor = min(latest.seq, seq - 1)
        if latest.content.strip():
            head = [{"role": "user", "content": SUMMARY_PREFIX + latest.content}]
    assert context[: len(head)] == head
    body = context[len(head) :]
    remaining = budget - sum(estimate_tokens(m) for m in head)
    assert sum(estimate_tokens(m) for m in body) <= max(remaining, 0)

    # What the whole history after the summary converts to; the window must be a suffix of
    # it (paging must never change the result), starting at a user message if it has one.
    after = [r for seq, r in enumerate(rows, start=1) if seq > floor and r.kind != "summary"]
    full = to_openai_messages(after)
    assert body == full[len(full) - len(body) :]
    if any(m["role"] == "user" for m in body):
        assert body[0]["role"] == "user"
    if full:
        last_unit = _units_of(full)[-1]
        if sum(estimate_tokens(m) for m in last_unit) <= remaining:
            assert body[-len(last_unit) :] == last_unit
    # Sanity: the rows we inserted are the ones messages() reads back.
    assert len(stored) == sum(r.kind != "summary" for r in rows)


def test_load_context_properties(tmp_path: Path) -> None:
    # One database for all examples (a conversation each): hypothesis can't use pytest's
    # function-scoped async fixtures, so drive our own event loop.
    with asyncio.Runner() as runner:
        db = Database(sqlite_url(tmp_path / "prop.db"))
        runner.run(db.upgrade())

        async def make_user() -> int:
            async with db.transaction() as session:
                return (await UserRepository(session).get_or_create("prop")).id

        user_id = runner.run(make_user())

        @settings(
            max_examples=100,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(
            rows=HISTORY,
            budget=st.integers(min_value=0, max_value=400),
            page_size=st.sampled_from([1, 2, 3, 64]),
        )
        def check(rows: list[MessageView], budget: int, page_size: int) -> None:
            runner.run(_check_load_context(db, user_id, rows, budget, page_size))

        try:
            check()
        finally:
            runner.run(db.dispose())


# --- load_context: examples -------------------------------------------------------------------


async def _conversation(db: Database, user_id: int, rows: list[MessageView]) -> str:
    async with db.transaction() as session:
        conv = await ConversationRepository(session, user_id).create()
        await _bulk_insert(session, conv.id, rows)
        return conv.id


async def test_resume_uses_latest_summary_and_messages_after_it(db: Database, alice: int) -> None:
    async with db.transaction() as session:
        convs = ConversationRepository(session, alice)
        conv = await convs.create()
        await convs.append(conv.id, "user", "old question")
        await convs.append(conv.id, "assistant", "old answer")
        await convs.append_summary(conv.id, "first summary", until_seq=2)
        await convs.append(conv.id, "user", "q2")  # seq 4
        await convs.append(conv.id, "assistant", "a2")  # seq 5
        await convs.append(conv.id, "user", "q3")  # seq 6: arrives while summarizing
        await convs.append_summary(conv.id, "second summary", until_seq=5)
        await convs.append(conv.id, "assistant", "a3")

        context = await load_context(session, alice, conv.id, token_budget=1000)
    assert context == [
        {"role": "user", "content": SUMMARY_PREFIX + "second summary"},
        {"role": "user", "content": "q3"},
        {"role": "assistant", "content": "a3"},
    ]


async def test_window_never_splits_a_tool_group(db: Database, alice: int) -> None:
    big = "r" * 400  # ~100 tokens
    rows = [
        user("first"),
        assistant(None, call("a"), call("b")),
        tool("a", big),
        tool("b", big),
        assistant("done"),
        user("latest"),
        assistant("reply"),
    ]
    conv = await _conversation(db, alice, rows)
    async with db.transaction() as session:
        tail = await load_context(session, alice, conv, token_budget=150)
        everything = await load_context(session, alice, conv, token_budget=10_000)
    # The group doesn't fit; "done" would, but a window can't start with an assistant reply.
    assert tail == [
        {"role": "user", "content": "latest"},
        {"role": "assistant", "content": "reply"},
    ]
    assert everything == to_openai_messages(rows)


async def test_window_starts_at_a_user_message_but_keeps_the_summary(
    db: Database, alice: int
) -> None:
    rows = [
        user("q1"),
        assistant("a1 " * 20),
        summary("earlier stuff", until_seq=1),
        assistant("more of a1"),
        user("q2"),
        assistant("a2"),
    ]
    conv = await _conversation(db, alice, rows)
    async with db.transaction() as session:
        context = await load_context(session, alice, conv, token_budget=1000)
    assert context == [
        {"role": "user", "content": SUMMARY_PREFIX + "earlier stuff"},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "a2"},
    ]


async def test_window_without_any_user_message_is_kept(db: Database, alice: int) -> None:
    conv = await _conversation(db, alice, [user("x" * 400), assistant("short")])
    async with db.transaction() as session:
        context = await load_context(session, alice, conv, token_budget=20)
    assert context == [{"role": "assistant", "content": "short"}]


async def test_accepts_stored_message_objects(db: Database, alice: int) -> None:
    async with db.transaction() as session:
        convs = ConversationRepository(session, alice)
        conv = await convs.create()
        await convs.append(conv.id, "user", "weather?")
        await convs.append(conv.id, "assistant", tool_calls=[call("c1")])
        await convs.append(conv.id, "tool", "sunny", tool_call_id="c1")
        await convs.append(conv.id, "assistant", "Sunny.", interrupted=True)
        stored = await convs.messages(conv.id)
    assert to_openai_messages(stored) == [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "tool_calls": [call("c1")]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "assistant", "content": "Sunny."},
    ]
    assert all(type(m["role"]) is str for m in to_openai_messages(stored))


async def test_missing_or_empty_conversation(db: Database, alice: int) -> None:
    conv = await _conversation(db, alice, [])
    async with db.transaction() as session:
        assert await load_context(session, alice, conv, token_budget=100) == []
        assert await load_context(session, alice, "nope", token_budget=100) == []


async def test_rows_read_are_capped_even_if_they_produce_nothing(db: Database, alice: int) -> None:
    # 500 empty (barged-in) assistant rows after the last real exchange.
    rows = [user("hello"), assistant("hi")] + [assistant("", interrupted=True)] * 500
    conv = await _conversation(db, alice, rows)
    async with db.transaction() as session:
        fetched = _count_rows_fetched(session)
        capped = await load_context(session, alice, conv, token_budget=100, page_size=16)
        assert capped == []
        assert sum(fetched) <= 100 + 64
        uncapped = await load_context(session, alice, conv, token_budget=100, max_rows=10_000)
    assert uncapped == [
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "hi"},
    ]


# --- O(window), not O(history) ----------------------------------------------------------------


def _count_rows_fetched(session: AsyncSession) -> list[int]:
    """Record how many rows each ``session.execute`` returns (instance-level wrapper)."""
    counts: list[int] = []
    original = session.execute

    async def execute(*args: Any, **kwargs: Any) -> Any:
        frozen = (await original(*args, **kwargs)).freeze()
        counts.append(len(frozen.data))
        return frozen()

    session.execute = execute  # type: ignore[method-assign]
    return counts


def _exchange(i: int) -> list[MessageView]:
    text = f"message number {i} " + "lorem ipsum " * 6  # ~25 tokens each
    return [user(text), assistant(None, call(f"c{i}")), tool(f"c{i}", "ok"), assistant(text)]


async def _measure(db: Database, user_id: int, conversation_id: str) -> tuple[list, int, list]:
    """load_context result, SQLite VM steps it cost, rows it fetched."""
    steps = 0

    def progress() -> int:
        nonlocal steps
        steps += 1
        return 0  # 0 = keep going

    async with db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        await raw.driver_connection.set_progress_handler(progress, 10)
        async with AsyncSession(bind=conn) as session:
            fetched = _count_rows_fetched(session)
            context = await load_context(session, user_id, conversation_id, token_budget=2000)
        await raw.driver_connection.set_progress_handler(None, 10)
    return context, steps, fetched


@pytest.mark.sqlite_only  # counts SQLite's VM steps
async def test_load_context_cost_is_independent_of_history_length(db: Database, alice: int) -> None:
    long_rows = [row for i in range(5000) for row in _exchange(i)]  # 20k messages
    short_rows = long_rows[-200:]
    huge = await _conversation(db, alice, [summary("ancient history", until_seq=10)] + long_rows)
    small = await _conversation(db, alice, [summary("ancient history", until_seq=0)] + short_rows)

    huge_context, huge_steps, huge_fetched = await _measure(db, alice, huge)
    small_context, small_steps, small_fetched = await _measure(db, alice, small)

    assert huge_context == small_context
    assert len(huge_context) > 20  # a real window, not an empty answer
    # Rows read are bounded by the window (~80 messages fit in 2000 tokens)...
    assert sum(huge_fetched) < 400
    assert sum(huge_fetched) == sum(small_fetched)
    # ...and so is the work SQLite does: no scan or sort over the 20k rows.
    assert huge_steps < small_steps * 1.5 + 50
