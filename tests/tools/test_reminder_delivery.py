"""Reminder delivery logic with a stand-in session (no audio): claims, the split, races."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from assistant.pipeline.builder import SessionSpec
from assistant.store.database import Database
from assistant.store.models import Reminder, ReminderStatus
from assistant.store.repository import ReminderRepository
from assistant.tools import reminders as reminders_module
from assistant.tools.reminders import (
    attach_reminders,
    deliver_due_reminders,
    missed_reminders_line,
)
from tests.tools.conftest import NOW


@dataclass
class Clock:
    at: datetime = NOW

    def __call__(self) -> datetime:
        return self.at


def greeted_already() -> asyncio.Event:
    event = asyncio.Event()
    event.set()
    return event


@dataclass
class StubSession:
    """The parts of VoiceSession that reminder delivery uses."""

    spec: SessionSpec
    now: Clock
    db: Database
    said: list[str] = field(default_factory=list)
    notified: list[dict[str, Any]] = field(default_factory=list)
    live_tasks: list = field(default_factory=list)
    greeting_extras: list = field(default_factory=list)
    greeted: asyncio.Event = field(default_factory=greeted_already)

    async def say(self, text: str) -> None:
        self.said.append(text)

    async def notify(self, message: dict[str, Any]) -> None:
        self.notified.append(message)


async def add(context, text: str, due: datetime, zone: str = "UTC") -> int:
    async with context.db.session() as session:
        repo = ReminderRepository(session, context.user_id)
        return (await repo.add(text, due, zone, context.conversation_id)).id


async def statuses(context) -> dict[str, ReminderStatus]:
    async with context.db.session() as session:
        rows = await session.scalars(select(Reminder).where(Reminder.user_id == context.user_id))
        return {r.text: r.status for r in rows}


def stub(context, clock: Clock | None = None) -> StubSession:
    spec = SessionSpec(context.user_id, "alice", context.conversation_id, context.timezone)
    return StubSession(spec=spec, now=clock or Clock(), db=context.db)


async def until_said(session: StubSession, delivery) -> None:
    """Run `delivery` (a live task's coroutine) until the session has said something."""
    task = asyncio.create_task(delivery)
    try:
        await wait_until(lambda: session.said)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def wait_until(predicate, timeout: float = 3.0, step: float = 0.005) -> None:
    for _ in range(int(timeout / step)):
        if predicate():
            return
        await asyncio.sleep(step)
    raise AssertionError("timed out")


async def test_live_delivery_speaks_each_due_reminder_once(tool_context):
    clock = Clock()
    session = stub(tool_context, clock)
    await add(tool_context, "stretch", NOW + timedelta(seconds=30))
    await add(tool_context, "later", NOW + timedelta(hours=1))
    task = asyncio.create_task(deliver_due_reminders(session, poll_secs=0.01))
    try:
        await asyncio.sleep(0.05)
        assert session.said == []  # not due yet

        clock.at = NOW + timedelta(seconds=31)
        await wait_until(lambda: session.said)
        await asyncio.sleep(0.05)  # a few more polls: still said only once
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert session.said == ["Reminder: stretch"]
    assert session.notified == [
        {"type": "reminder-due", "text": "stretch", "due_at": "2025-03-14T15:30:30+00:00"},
        {"type": "reminders-changed"},
    ]
    assert await statuses(tool_context) == {
        "stretch": ReminderStatus.DELIVERED,
        "later": ReminderStatus.PENDING,
    }


async def test_two_live_sessions_of_one_user_speak_a_reminder_once(tool_context):
    clock = Clock()
    first, second = stub(tool_context, clock), stub(tool_context, clock)
    for n in range(5):
        await add(tool_context, f"r{n}", NOW + timedelta(seconds=10))
    tasks = [
        asyncio.create_task(deliver_due_reminders(s, poll_secs=0.001)) for s in (first, second)
    ]
    try:
        await asyncio.sleep(0.02)  # both running (their "since" is NOW) before it comes due
        clock.at = NOW + timedelta(seconds=11)
        await wait_until(lambda: len(first.said) + len(second.said) >= 5)
        await asyncio.sleep(0.05)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    assert sorted(first.said + second.said) == [f"Reminder: r{n}" for n in range(5)]


async def test_reminders_due_before_the_session_are_left_to_the_greeting(tool_context):
    await add(tool_context, "while away", NOW - timedelta(hours=2))
    session = stub(tool_context)
    task = asyncio.create_task(deliver_due_reminders(session, poll_secs=0.01))
    await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    assert session.said == []
    assert await statuses(tool_context) == {"while away": ReminderStatus.PENDING}


async def test_the_greeting_line_claims_missed_reminders(make_context):
    alice = await make_context("alice", timezone="America/New_York")
    bob = await make_context("bob")
    await add(alice, "call mom.", NOW - timedelta(hours=2), "America/New_York")
    await add(alice, "take pills", NOW - timedelta(days=1, minutes=5), "America/New_York")
    await add(alice, "future", NOW + timedelta(hours=1))
    await add(bob, "bob's own", NOW - timedelta(hours=1))
    session = stub(alice)

    line = await missed_reminders_line(session)

    assert line == (
        "While you were away, 2 reminders came due: "
        "take pills, yesterday at 11:25; call mom, today at 9:30."
    )
    assert await statuses(alice) == {
        "call mom.": ReminderStatus.DELIVERED,
        "take pills": ReminderStatus.DELIVERED,
        "future": ReminderStatus.PENDING,
    }
    assert await statuses(bob) == {"bob's own": ReminderStatus.PENDING}
    assert session.notified == [{"type": "reminders-changed"}]
    # Claimed means claimed: the next greeting (or another tab's) doesn't repeat them.
    assert await missed_reminders_line(stub(alice)) is None


async def test_one_missed_reminder_and_many(tool_context):
    await add(tool_context, "water plants", NOW - timedelta(minutes=10))
    assert await missed_reminders_line(stub(tool_context)) == (
        "While you were away, a reminder came due: water plants, today at 15:20."
    )
    for n in range(7):
        await add(tool_context, f"r{n}", NOW - timedelta(minutes=10 - n))
    line = await missed_reminders_line(stub(tool_context))
    assert line.startswith("While you were away, 7 reminders came due: r0, today at 15:20; ")
    assert line.endswith("r4, today at 15:24; and 2 more.")


async def test_attach_splits_at_one_instant(tool_context):
    clock = Clock()
    session = stub(tool_context, clock)
    attach_reminders(session, poll_secs=0.01)
    assert len(session.live_tasks) == 1 and len(session.greeting_extras) == 1

    # Both come due only after the session was built, one of them before the greeting runs:
    # neither is the greeting's, and the live task speaks both.
    await add(tool_context, "after start", NOW + timedelta(seconds=1))
    await add(tool_context, "before start", NOW - timedelta(seconds=1))
    clock.at = NOW + timedelta(seconds=5)
    line = await session.greeting_extras[0](session)
    assert line == "While you were away, a reminder came due: before start, today at 15:29."

    await until_said(session, session.live_tasks[0](session))
    assert session.said == ["Reminder: after start"]


async def test_delivery_survives_a_store_failure(tool_context, monkeypatch):
    clock = Clock()
    session = stub(tool_context, clock)
    real_due = ReminderRepository.due
    failures = []

    async def flaky_due(self, now_utc, limit=100):
        if not failures:
            failures.append(now_utc)
            raise OSError("disk I/O error")
        return await real_due(self, now_utc, limit)

    monkeypatch.setattr(ReminderRepository, "due", flaky_due)
    await add(tool_context, "still comes", NOW + timedelta(seconds=1))
    clock.at = NOW + timedelta(seconds=2)
    await until_said(session, deliver_due_reminders(session, poll_secs=0.01, since=NOW))
    assert failures and session.said == ["Reminder: still comes"]


async def test_live_delivery_waits_for_the_greeting(tool_context):
    clock = Clock()
    session = stub(tool_context, clock)
    session.greeted = asyncio.Event()  # the page is not ready yet
    attach_reminders(session, poll_secs=0.01)
    await add(tool_context, "stretch", NOW + timedelta(seconds=1))
    clock.at = NOW + timedelta(seconds=2)

    async def greet_later() -> None:
        await asyncio.sleep(0.2)  # twenty ticks' worth: due, but no greeting yet
        assert session.said == []
        session.greeted.set()

    greeting = asyncio.create_task(greet_later())
    await until_said(session, session.live_tasks[0](session))
    await greeting  # raises if something was said before the greeting
    assert session.said == ["Reminder: stretch"]


async def test_a_page_that_never_gets_ready_still_gets_its_reminders(tool_context, monkeypatch):
    monkeypatch.setattr(reminders_module, "GREETING_WAIT_SECS", 0.05)
    clock = Clock()
    session = stub(tool_context, clock)
    session.greeted = asyncio.Event()  # and never set
    attach_reminders(session, poll_secs=0.01)
    await add(tool_context, "stretch", NOW + timedelta(seconds=1))
    clock.at = NOW + timedelta(seconds=2)
    await until_said(session, session.live_tasks[0](session))
    assert session.said == ["Reminder: stretch"]
