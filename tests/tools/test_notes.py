"""Note tools against a real database, called with raw arguments as the LLM sends them."""

from __future__ import annotations

import pytest

from assistant.store.repository import NoteRepository
from assistant.tools.notes import (
    APPEND_TO_NOTE,
    CONTENT_MAX_CHARS,
    DELETE_NOTE,
    EDIT_NOTE,
    LIST_NOTES,
    SEARCH_NOTES,
    TAKE_NOTE,
)

CHANGED = {"type": "notes-changed"}


async def stored_notes(context) -> list[tuple[int, str]]:
    async with context.db.transaction() as session:
        notes = await NoteRepository(session, context.user_id).recent(limit=1000)
    return sorted((n.id, n.content) for n in notes)


async def test_take_note_saves_the_stripped_text_for_the_session_user(tool_context, call_tool):
    result = await call_tool(TAKE_NOTE, content="  buy oat milk \n")

    assert result["ok"] is True
    note_id = result["note"]["id"]
    assert result == {"ok": True, "note": {"id": note_id, "content": "buy oat milk"}}
    assert await stored_notes(tool_context) == [(note_id, "buy oat milk")]
    assert tool_context.notifications == [CHANGED]


async def test_arguments_may_arrive_as_a_json_string(tool_context):
    result = await tool_context.call(TAKE_NOTE, '{"content": "call the plumber"}')
    assert result["ok"] is True
    assert await stored_notes(tool_context) == [(result["note"]["id"], "call the plumber")]


async def test_a_user_id_in_the_arguments_is_ignored(make_context):
    alice = await make_context("alice")
    bob = await make_context("bob")

    result = await bob.call(TAKE_NOTE, content="bob's secret", user_id=alice.user_id)

    assert result["ok"] is True
    assert await stored_notes(alice) == []
    assert [c for _, c in await stored_notes(bob)] == ["bob's secret"]


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"content": ""},
        {"content": "   \n\t "},
        {"content": "x" * (CONTENT_MAX_CHARS + 1)},
        {"content": 42},
        {"content": ["buy", "milk"]},
        {"content": None},
        {"content": "\ud800 lone surrogate"},
        "not json at all",
        "[1, 2]",
        ["content", "milk"],
        17,
    ],
    ids=[
        "missing",
        "empty",
        "blank",
        "too-long",
        "number",
        "list",
        "null",
        "surrogate",
        "bad-json",
        "json-array",
        "list-args",
        "int-args",
    ],
)
async def test_take_note_rejects_bad_input_and_saves_nothing(tool_context, raw):
    result = await tool_context.call(TAKE_NOTE, raw)

    assert result["ok"] is False
    assert isinstance(result["error"], str) and result["error"]
    assert await stored_notes(tool_context) == []
    assert tool_context.notifications == []


async def test_a_missing_field_is_named_in_the_error(call_tool):
    result = await call_tool(TAKE_NOTE)
    assert result["error"] == "invalid arguments"
    assert any(detail.startswith("content:") for detail in result["details"])


async def test_content_at_the_limit_is_kept_whole(tool_context, call_tool):
    content = "y" * CONTENT_MAX_CHARS
    result = await call_tool(TAKE_NOTE, content=content)
    assert result["ok"] is True
    assert await stored_notes(tool_context) == [(result["note"]["id"], content)]


async def test_list_notes_gives_recent_first_with_ids_and_short_previews(tool_context, call_tool):
    ids = [(await call_tool(TAKE_NOTE, content=c))["note"]["id"] for c in ("one", "two", "three")]
    await call_tool(TAKE_NOTE, content="long " * 200)
    tool_context.notifications.clear()

    result = await call_tool(LIST_NOTES, limit=3)

    assert result["ok"] is True
    assert result["count"] == 3
    newest, *rest = result["notes"]
    assert newest["content"].startswith("long long") and len(newest["content"]) <= 200
    assert newest["content"].endswith("…")
    assert rest == [{"id": ids[2], "content": "three"}, {"id": ids[1], "content": "two"}]
    assert tool_context.notifications == []  # reading changes nothing


async def test_list_notes_defaults_and_limits(call_tool):
    assert await call_tool(LIST_NOTES) == {"ok": True, "notes": [], "count": 0}
    for bad in (0, 21, "many", True, 2.5):
        result = await call_tool(LIST_NOTES, limit=bad)
        assert result["ok"] is False, bad


async def test_search_notes_uses_full_text_search(call_tool):
    milk = (await call_tool(TAKE_NOTE, content="buy oat milk at the market"))["note"]["id"]
    await call_tool(TAKE_NOTE, content="call the dentist on Monday")

    result = await call_tool(SEARCH_NOTES, query="Milk")
    assert result["ok"] is True
    assert [n["id"] for n in result["notes"]] == [milk]

    # FTS5 syntax in what the LLM typed is just words, not an error.
    weird = await call_tool(SEARCH_NOTES, query='milk" OR * NEAR( dentist:')
    assert weird["ok"] is True
    assert weird["count"] == 2

    nothing = await call_tool(SEARCH_NOTES, query="zebra")
    assert nothing == {"ok": True, "query": "zebra", "notes": [], "count": 0}

    assert (await call_tool(SEARCH_NOTES, query="   "))["ok"] is False
    assert (await call_tool(SEARCH_NOTES))["ok"] is False


async def test_append_adds_a_line(tool_context, call_tool):
    note_id = (await call_tool(TAKE_NOTE, content="shopping: milk"))["note"]["id"]
    tool_context.notifications.clear()

    # Models often send ids as strings; that is still the same id.
    result = await call_tool(APPEND_TO_NOTE, note_id=str(note_id), text=" eggs ")

    assert result == {"ok": True, "note": {"id": note_id, "content": "shopping: milk\neggs"}}
    assert await stored_notes(tool_context) == [(note_id, "shopping: milk\neggs")]
    assert tool_context.notifications == [CHANGED]


async def test_edit_replaces_the_text(tool_context, call_tool):
    note_id = (await call_tool(TAKE_NOTE, content="meeting at 3"))["note"]["id"]

    result = await call_tool(EDIT_NOTE, note_id=note_id, content="meeting at 4")

    assert result == {"ok": True, "note": {"id": note_id, "content": "meeting at 4"}}
    assert await stored_notes(tool_context) == [(note_id, "meeting at 4")]


async def test_delete_removes_it_once(tool_context, call_tool):
    keep = (await call_tool(TAKE_NOTE, content="keep me"))["note"]["id"]
    gone = (await call_tool(TAKE_NOTE, content="delete me"))["note"]["id"]
    tool_context.notifications.clear()

    result = await call_tool(DELETE_NOTE, note_id=gone)
    assert result == {"ok": True, "deleted": {"id": gone, "content": "delete me"}}
    assert await stored_notes(tool_context) == [(keep, "keep me")]
    assert tool_context.notifications == [CHANGED]

    again = await call_tool(DELETE_NOTE, note_id=gone)
    assert again == {"ok": False, "error": f"no note with id {gone}"}
    assert tool_context.notifications == [CHANGED]


@pytest.mark.parametrize(
    ("tool", "extra"),
    [(APPEND_TO_NOTE, {"text": "more"}), (EDIT_NOTE, {"content": "new"}), (DELETE_NOTE, {})],
)
async def test_unknown_ids_get_a_clear_error(tool_context, call_tool, tool, extra):
    await call_tool(TAKE_NOTE, content="the only note")
    before = await stored_notes(tool_context)
    tool_context.notifications.clear()

    for note_id in (999, 2**70):
        result = await call_tool(tool, note_id=note_id, **extra)
        assert result == {"ok": False, "error": f"no note with id {note_id}"}
    for bad_id in (0, -3, True, 1.5, "one", None, [1]):
        result = await call_tool(tool, note_id=bad_id, **extra)
        assert result["ok"] is False and result["error"] == "invalid arguments", bad_id

    assert await stored_notes(tool_context) == before
    assert tool_context.notifications == []


@pytest.mark.parametrize(
    ("tool", "extra"),
    [(APPEND_TO_NOTE, {"text": "pwned"}), (EDIT_NOTE, {"content": "pwned"}), (DELETE_NOTE, {})],
)
async def test_another_users_note_looks_exactly_like_a_missing_one(make_context, tool, extra):
    alice = await make_context("alice")
    bob = await make_context("bob")
    alices = (await alice.call(TAKE_NOTE, content="alice's diary"))["note"]["id"]
    missing = alices + 1000

    foreign = await bob.call(tool, note_id=alices, **extra)
    absent = await bob.call(tool, note_id=missing, **extra)

    assert foreign == {"ok": False, "error": f"no note with id {alices}"}
    assert absent == {"ok": False, "error": f"no note with id {missing}"}
    assert await stored_notes(alice) == [(alices, "alice's diary")]
    assert bob.notifications == []


async def test_other_users_notes_are_never_listed_or_found(make_context):
    alice = await make_context("alice")
    bob = await make_context("bob")
    await alice.call(TAKE_NOTE, content="alice likes pineapple")

    assert (await bob.call(LIST_NOTES))["notes"] == []
    assert (await bob.call(SEARCH_NOTES, query="pineapple"))["notes"] == []
    assert (await alice.call(SEARCH_NOTES, query="pineapple"))["count"] == 1


async def test_a_failing_page_notification_does_not_undo_or_hide_the_change(tool_context):
    async def broken(_message):
        raise ConnectionError("page went away")

    tool_context.notify = broken
    result = await tool_context.call(TAKE_NOTE, content="still saved")
    assert result["ok"] is True
    assert [c for _, c in await stored_notes(tool_context)] == ["still saved"]


@pytest.mark.parametrize("blank", ["\x1f", " \x1c\x1d\x1e "])
async def test_text_blank_by_the_stores_rule_is_refused_as_bad_input(
    tool_context, call_tool, blank
):
    # Python's str.strip() removes these separators, pydantic's whitespace stripping doesn't.
    result = await call_tool(TAKE_NOTE, content=blank)

    assert result["ok"] is False
    assert result["error"] == "invalid arguments"
    assert any("blank" in detail for detail in result["details"]), result
    assert await stored_notes(tool_context) == []
