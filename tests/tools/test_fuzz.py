"""Property tests: whatever arguments the LLM sends, a tool answers with a result and the store
holds only what valid calls asked for; another user's rows never change."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from assistant.store.memories import MemoryRepository
from assistant.store.models import Conversation, Memory, Note, Reminder, ReminderStatus
from assistant.store.repository import ConversationRepository, NoteRepository, ReminderRepository
from assistant.tools.base import Tool
from assistant.tools.registry import ALL_TOOLS
from tests.tools.conftest import NOW

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
# Values that are often valid for a field, so the fuzz also walks the success paths and hits
# real rows (alice's and bob's ids are small numbers).
ids = st.integers(min_value=-1, max_value=8) | st.sampled_from(["2", " 3 ", 4.0, 2**64])
PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "note_id": ids,
    "reminder_id": ids,
    "limit": st.integers(min_value=-1, max_value=25),
    "speed": st.floats(min_value=0.4, max_value=1.7) | st.sampled_from(["1.2", "fast"]),
    "volume": st.floats(min_value=0.3, max_value=2.2) | st.sampled_from(["0.8", "loud"]),
    "emotion": st.sampled_from(["happy", " SAD ", "joking", "cheerful", "grumpy", ""]),
    "when": st.sampled_from(
        [
            "in 20 minutes",
            "tomorrow at 9am",
            "at 9 tomorrow",
            "2025-03-20T09:00",
            "2025-03-20T09:00+02:00",
            "2025-03-14T09:00",
            "yesterday",
            "in 10 years",
            "whenever",
        ]
    ),
}
PLAUSIBLE |= {
    "fact": st.sampled_from(
        ["I live in Lisbon", "my sister is called Ana", "I like jazz", "I like tea", " ", "x" * 501]
    ),
    "what": st.sampled_from(["where I live", "jazz", "my sister", "1", "2", "everything", " "]),
    "query": st.sampled_from(["milk", "alice", "bob note", "what did we say", "", "NEAR(*"]),
    "when": PLAUSIBLE["when"] | st.sampled_from(["last week", "in March", "yesterday"]),
}
words = st.sampled_from(["milk", "alice note 1", "call mom", "  ", ""]) | st.text(max_size=60)


def arguments_for(tool: Tool) -> st.SearchStrategy[Any]:
    fields = sorted(tool.arguments.model_fields)
    plausible = {name: PLAUSIBLE.get(name, words) for name in fields}
    realistic = st.fixed_dictionaries(
        {name: value | json_values for name, value in plausible.items()},
        optional={"user_id": st.integers(1, 3), "conversation_id": st.text(max_size=8)},
    )
    keys = st.sampled_from([*fields, "user_id"]) | st.text(max_size=8)
    wild = st.dictionaries(keys, json_values, max_size=len(fields) + 2)
    return st.one_of(
        st.fixed_dictionaries({name: value for name, value in plausible.items()}),
        realistic,
        realistic.map(json.dumps),  # some models send the arguments still JSON-encoded
        wild,
        json_values,
        st.text(max_size=20),
    )


def obviously_bad(tool: Tool, raw: Any) -> bool:
    """Input no tool may accept: not an object, a required field missing or of a JSON type that
    can't be its value (a list, an object, a boolean where a number goes)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw or "{}")
        except ValueError:
            return True
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return True
    for name, info in tool.arguments.model_fields.items():
        if info.is_required() and name not in raw:
            return True
        value = raw.get(name)
        if isinstance(value, list | dict):
            return True
        if isinstance(value, bool) and (name.endswith("id") or name in {"limit", "speed"}):
            return True
    return False


async def snapshot(db, user_id: int) -> dict[str, Any]:
    async with db.transaction() as session:
        notes = await session.scalars(select(Note).where(Note.user_id == user_id))
        reminders = await session.scalars(select(Reminder).where(Reminder.user_id == user_id))
        voices = await session.scalars(select(Conversation).where(Conversation.user_id == user_id))
        memories = await session.scalars(select(Memory).where(Memory.user_id == user_id))
        return {
            "memories": {m.id: (m.text, m.superseded_at is None) for m in memories},
            "notes": {n.id: n.content for n in notes},
            "reminders": {r.id: (r.text, r.due_at, r.status) for r in reminders},
            "voice": {c.id: (c.emotion, c.speed, c.volume) for c in voices},
        }


def expected_after(tool: Tool, before: dict, after: dict, result: dict) -> dict:
    """What a successful call may have changed, applied to ``before``."""
    expected = {key: dict(value) for key, value in before.items()}
    if tool.name == "take_note":
        expected["notes"][result["note"]["id"]] = result["note"]["content"]
    elif tool.name in {"append_to_note", "edit_note"}:
        note_id = result["note"]["id"]
        assert note_id in before["notes"]
        expected["notes"][note_id] = after["notes"][note_id]
    elif tool.name == "delete_note":
        del expected["notes"][result["deleted"]["id"]]
    elif tool.name == "set_reminder":
        new_id = result["reminder"]["id"]
        assert new_id not in before["reminders"]
        expected["reminders"][new_id] = after["reminders"][new_id]
    elif tool.name == "cancel_reminder":
        reminder_id = result["cancelled"]["id"]
        text, due, status = before["reminders"][reminder_id]
        assert status is ReminderStatus.PENDING
        expected["reminders"][reminder_id] = (text, due, ReminderStatus.CANCELLED)
    elif tool.name == "remember":
        if not result.get("already_known"):
            new = [key for key in after["memories"] if key not in before["memories"]]
            assert len(new) == 1 and after["memories"][new[0]] == (result["remembered"], True)
            expected["memories"][new[0]] = after["memories"][new[0]]
            replaced = sorted(
                text
                for text, _ in (
                    before["memories"][k]
                    for k in before["memories"]
                    if before["memories"][k][1] and not after["memories"][k][1]
                )
            )
            assert replaced == sorted(result.get("replaced", []))
            for key, (text, is_current) in before["memories"].items():
                if is_current and text in replaced:
                    expected["memories"][key] = (text, False)
    elif tool.name == "forget":
        gone = [key for key in before["memories"] if key not in after["memories"]]
        assert sorted(before["memories"][k][0] for k in gone) == sorted(result["forgotten"])
        for key in gone:
            del expected["memories"][key]
    elif tool.name == "set_voice":
        conversation = next(iter(after["voice"]))
        expected["voice"][conversation] = (result["emotion"], result["speed"], result["volume"])
    return expected


@pytest.fixture
async def seeded(make_context):
    """Alice (whose session calls the tools) and Bob, each with notes and reminders."""
    alice = await make_context("alice", timezone="America/New_York")
    bob = await make_context("bob", timezone="Asia/Tokyo")
    for context, prefix in ((alice, "alice"), (bob, "bob")):
        async with context.db.transaction() as session:
            notes = NoteRepository(session, context.user_id)
            reminders = ReminderRepository(session, context.user_id)
            for n in range(3):
                await notes.add(f"{prefix} note {n} milk")
                await reminders.add(f"{prefix} reminder {n}", NOW.replace(hour=20), "UTC")
            for fact in ("I live in Paris", f"{prefix} likes jazz", "my sister is called Eva"):
                await MemoryRepository(session).remember(context.user_id, fact)
            await ConversationRepository(session, context.user_id).append(
                context.conversation_id, "user", f"{prefix} note about milk and the Porto trip"
            )
    return alice, bob


@pytest.mark.parametrize("tool", ALL_TOOLS, ids=lambda tool: tool.name)
@settings(
    max_examples=80,
    deadline=None,
    # One database per test on purpose: state carries across examples, like a real session.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_any_arguments_get_a_result_and_change_only_what_they_should(seeded, tool, data):
    alice, bob = seeded
    raw = data.draw(arguments_for(tool), label="arguments")
    alice_before = await snapshot(alice.db, alice.user_id)
    bob_before = await snapshot(bob.db, bob.user_id)
    alice.notifications.clear()

    result = await tool.call(alice, raw)

    assert isinstance(result, dict)
    assert isinstance(result.get("ok"), bool)
    event(f"ok={result['ok']}")
    alice_after = await snapshot(alice.db, alice.user_id)
    if result["ok"]:
        assert not obviously_bad(tool, raw), result
        assert alice_after == expected_after(tool, alice_before, alice_after, result)
    else:
        assert isinstance(result.get("error"), str) and result["error"]
        assert "unexpectedly" not in result["error"], result  # every failure is an expected one
        assert alice_after == alice_before
        assert alice.notifications == []
    assert await snapshot(bob.db, bob.user_id) == bob_before
    json.dumps(result)  # the result goes back to the LLM as JSON
