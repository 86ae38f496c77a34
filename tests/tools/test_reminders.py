"""Reminder tools and time resolution, against a real database with a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from assistant.store.models import Reminder, ReminderStatus
from assistant.store.repository import ConversationRepository, ReminderRepository
from assistant.tools.base import ToolError
from assistant.tools.reminders import (
    CANCEL_REMINDER,
    LIST_REMINDERS,
    SET_REMINDER,
    TEXT_MAX_CHARS,
    describe_time,
    resolve_when,
)
from tests.tools.conftest import NOW

CHANGED = {"type": "reminders-changed"}
NY, TOKYO = "America/New_York", "Asia/Tokyo"  # at NOW: Fri 11:30 EDT / Sat 00:30 JST


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("when", "zone", "expected"),
    [
        ("in 20 minutes", NY, utc(2025, 3, 14, 15, 50)),
        ("in 20 minutes", TOKYO, utc(2025, 3, 14, 15, 50)),
        ("in 2 hours", TOKYO, utc(2025, 3, 14, 17, 30)),
        # A bare hour: dateparser alone would read "9" as the 9th of the month.
        ("at 9 tomorrow", NY, utc(2025, 3, 15, 13)),
        ("at 9 tomorrow", TOKYO, utc(2025, 3, 16, 0)),
        ("tomorrow at 9am", NY, utc(2025, 3, 15, 13)),
        ("tomorrow at 9am", TOKYO, utc(2025, 3, 16, 0)),
        ("at 9 o'clock tomorrow", NY, utc(2025, 3, 15, 13)),
        # A time alone is the next one: 9am has passed in New York, not yet in Tokyo (00:30).
        ("9am", NY, utc(2025, 3, 15, 13)),
        ("9am", TOKYO, utc(2025, 3, 15, 0)),
        ("at 5pm", NY, utc(2025, 3, 14, 21)),
        ("friday at noon", NY, utc(2025, 3, 21, 16)),
        # ISO 8601: naive is the user's local time, an offset is honoured as given.
        ("2025-03-20T09:00", NY, utc(2025, 3, 20, 13)),
        ("2025-03-20T09:00", TOKYO, utc(2025, 3, 20, 0)),
        ("2025-03-20 09:00:00", NY, utc(2025, 3, 20, 13)),
        ("2025-03-20T09:00+02:00", NY, utc(2025, 3, 20, 7)),
        ("2025-03-20T09:00+02:00", TOKYO, utc(2025, 3, 20, 7)),
        ("2025-03-20T09:00Z", TOKYO, utc(2025, 3, 20, 9)),
        # A zone named in words wins over the user's.
        ("tomorrow at 9am UTC", NY, utc(2025, 3, 15, 9)),
    ],
)
def test_resolve_when(when, zone, expected):
    assert resolve_when(when, zone, NOW) == expected


@pytest.mark.parametrize(
    ("when", "zone"),
    [
        ("2025-03-14T10:00", NY),  # 10:00 EDT is an hour and a half ago
        ("2025-03-15T00:00", TOKYO),  # half an hour ago in Tokyo
        ("2025-03-14T15:00Z", NY),
        ("yesterday at 9am", NY),
        ("5 minutes ago", TOKYO),
    ],
)
def test_a_time_in_the_past_is_refused(when, zone):
    with pytest.raises(ToolError, match="in the past"):
        resolve_when(when, zone, NOW)


def test_a_moment_ago_counts_as_now():
    # The LLM rounds "now" to the minute: within the grace it is due at once, not refused.
    assert resolve_when("2025-03-14T11:29", NY, NOW) == NOW


@pytest.mark.parametrize("when", ["when pigs fly", "", "   ", "in 10 years", "2999-01-01T00:00"])
def test_nonsense_and_far_future_are_refused(when):
    with pytest.raises(ToolError):
        resolve_when(when, NY, NOW)


def test_describe_time_is_speakable():
    assert describe_time(utc(2025, 3, 14, 15, 50), NY, NOW) == "today at 11:50"
    assert describe_time(utc(2025, 3, 15, 0, 5), TOKYO, NOW) == "today at 9:05"
    assert describe_time(utc(2025, 3, 15, 13), NY, NOW) == "tomorrow at 9:00"
    assert describe_time(utc(2025, 3, 21, 16), NY, NOW) == "Friday 21 March at 12:00"
    assert describe_time(utc(2026, 1, 2, 14), NY, NOW) == "Friday 2 January 2026 at 9:00"


async def reminders_of(context) -> list[tuple[int, str, datetime, str, ReminderStatus]]:
    """All the user's reminders, whatever their status, read straight from the table."""
    async with context.db.transaction() as session:
        rows = await session.scalars(select(Reminder).where(Reminder.user_id == context.user_id))
        return sorted((r.id, r.text, r.due_at, r.timezone, r.status) for r in rows)


async def test_set_reminder_stores_utc_with_the_users_zone(make_context):
    alice = await make_context("alice", timezone=NY)

    result = await alice.call(SET_REMINDER, text=" call mom ", when="at 9 tomorrow")

    assert result["ok"] is True
    reminder_id = result["reminder"]["id"]
    assert result["reminder"] == {
        "id": reminder_id,
        "text": "call mom",
        "due": "tomorrow at 9:00",
        "due_local": "2025-03-15T09:00-04:00",
    }
    assert await reminders_of(alice) == [
        (reminder_id, "call mom", utc(2025, 3, 15, 13), NY, ReminderStatus.PENDING)
    ]
    # On disk it is the UTC wall clock, whatever the user's zone.
    async with alice.db.transaction() as session:
        raw = await session.scalar(text("SELECT due_at FROM reminders"))
        conversation = await session.scalar(text("SELECT conversation_id FROM reminders"))
    assert str(raw).startswith("2025-03-15 13:00:00")
    assert conversation == alice.conversation_id
    assert alice.notifications == [CHANGED]


async def test_same_words_in_tokyo(make_context):
    bob = await make_context("bob", timezone=TOKYO)
    result = await bob.call(SET_REMINDER, {"text": "stretch", "when": "tomorrow at 9am"})
    assert result["reminder"]["due_local"] == "2025-03-16T09:00+09:00"
    assert (await reminders_of(bob))[0][2] == utc(2025, 3, 16, 0)


async def test_past_times_get_an_error_the_llm_can_use(make_context):
    alice = await make_context("alice", timezone=NY)

    result = await alice.call(SET_REMINDER, text="standup", when="2025-03-14T09:00")

    assert result["ok"] is False
    assert "in the past" in result["error"]
    assert "2025-03-14T11:30-04:00" in result["error"]  # the user's current time, to retry
    assert await reminders_of(alice) == []
    assert alice.notifications == []


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"text": "call mom"},
        {"when": "in 5 minutes"},
        {"text": "", "when": "in 5 minutes"},
        {"text": "  ", "when": "in 5 minutes"},
        {"text": "x" * (TEXT_MAX_CHARS + 1), "when": "in 5 minutes"},
        {"text": "call mom", "when": ""},
        {"text": "call mom", "when": 1742000000},
        {"text": ["call mom"], "when": "in 5 minutes"},
        {"text": "call mom", "when": "someday maybe"},
        {"text": "call mom", "when": "2025-02-30T09:00"},
        {"text": "call mom", "when": "yesterday"},
        "call mom at nine",
    ],
)
async def test_set_reminder_rejects_bad_input_and_stores_nothing(tool_context, raw):
    result = await tool_context.call(SET_REMINDER, raw)
    assert result["ok"] is False
    assert isinstance(result["error"], str) and result["error"]
    assert await reminders_of(tool_context) == []
    assert tool_context.notifications == []


async def test_the_reminder_survives_its_conversation_being_deleted(tool_context, call_tool):
    async with tool_context.db.transaction() as session:
        repo = ConversationRepository(session, tool_context.user_id)
        await repo.delete(tool_context.conversation_id)

    result = await call_tool(SET_REMINDER, text="water plants", when="in 1 hour")

    assert result["ok"] is True
    assert [r[1] for r in await reminders_of(tool_context)] == ["water plants"]


async def test_list_reminders_gives_pending_ones_soonest_first(tool_context, call_tool):
    later = (await call_tool(SET_REMINDER, text="later", when="in 3 hours"))["reminder"]["id"]
    soon = (await call_tool(SET_REMINDER, text="soon", when="in 10 minutes"))["reminder"]["id"]
    gone = (await call_tool(SET_REMINDER, text="gone", when="in 1 hour"))["reminder"]["id"]
    await call_tool(CANCEL_REMINDER, reminder_id=gone)
    tool_context.notifications.clear()

    result = await call_tool(LIST_REMINDERS)

    assert result == {
        "ok": True,
        "count": 2,
        "reminders": [
            {
                "id": soon,
                "text": "soon",
                "due": "today at 15:40",
                "due_local": "2025-03-14T15:40+00:00",
            },
            {
                "id": later,
                "text": "later",
                "due": "today at 18:30",
                "due_local": "2025-03-14T18:30+00:00",
            },
        ],
    }
    assert tool_context.notifications == []
    assert (await call_tool(LIST_REMINDERS, limit=1))["count"] == 1
    assert (await call_tool(LIST_REMINDERS, limit=0))["ok"] is False


async def test_cancel_reminder(tool_context, call_tool):
    reminder_id = (await call_tool(SET_REMINDER, text="gym", when="in 1 hour"))["reminder"]["id"]
    tool_context.notifications.clear()

    result = await call_tool(CANCEL_REMINDER, reminder_id=reminder_id)

    assert result["ok"] is True
    assert result["cancelled"]["text"] == "gym"
    assert (await reminders_of(tool_context))[0][4] is ReminderStatus.CANCELLED
    assert tool_context.notifications == [CHANGED]

    again = await call_tool(CANCEL_REMINDER, reminder_id=reminder_id)
    assert again == {"ok": False, "error": f"reminder {reminder_id} was already cancelled"}


async def test_cancelling_a_delivered_reminder_says_so(tool_context, call_tool):
    reminder_id = (await call_tool(SET_REMINDER, text="tea", when="in 1 minute"))["reminder"]["id"]
    async with tool_context.db.transaction() as session:
        assert await ReminderRepository(session, tool_context.user_id).mark_delivered(reminder_id)

    result = await call_tool(CANCEL_REMINDER, reminder_id=reminder_id)

    assert result == {"ok": False, "error": f"reminder {reminder_id} already went off"}
    assert (await reminders_of(tool_context))[0][4] is ReminderStatus.DELIVERED


async def test_cancel_unknown_or_bad_ids(tool_context, call_tool):
    for reminder_id in (404, 2**64):
        result = await call_tool(CANCEL_REMINDER, reminder_id=reminder_id)
        assert result == {"ok": False, "error": f"no reminder with id {reminder_id}"}
    for bad in (0, -1, False, "soon", 1.5, None):
        assert (await call_tool(CANCEL_REMINDER, reminder_id=bad))["ok"] is False, bad
    assert (await call_tool(CANCEL_REMINDER))["ok"] is False
    assert tool_context.notifications == []


async def test_another_users_reminder_looks_exactly_like_a_missing_one(make_context):
    alice = await make_context("alice", timezone=NY)
    bob = await make_context("bob", timezone=TOKYO)
    alices = (await alice.call(SET_REMINDER, text="alice's", when="in 1 hour"))["reminder"]["id"]
    missing = alices + 1000

    assert await bob.call(CANCEL_REMINDER, reminder_id=alices) == {
        "ok": False,
        "error": f"no reminder with id {alices}",
    }
    assert await bob.call(CANCEL_REMINDER, reminder_id=missing) == {
        "ok": False,
        "error": f"no reminder with id {missing}",
    }
    assert (await bob.call(LIST_REMINDERS))["reminders"] == []
    assert [(r[0], r[4]) for r in await reminders_of(alice)] == [(alices, ReminderStatus.PENDING)]
    assert bob.notifications == []


async def test_the_clock_comes_from_the_context(make_context):
    later = NOW + timedelta(days=30)
    alice = await make_context("alice", timezone=NY, now=later)
    result = await alice.call(SET_REMINDER, text="pay rent", when="in 20 minutes")
    assert (await reminders_of(alice))[0][2] == later + timedelta(minutes=20)
    assert result["reminder"]["due"] == "today at 11:50"  # 15:50 UTC, in April (EDT)
