"""Reminder delivery logic with a stand-in session (no audio): claims, the split, races, and
what happens to a reminder whose words never reached the page."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from assistant.pipeline.builder import SessionSpec
from assistant.runtime import reminders as reminders_module
from assistant.runtime.reminders import (
    CLAIM_LEASE,
    ReminderClaims,
    ReminderScheduler,
    attach_reminders,
    deliver_due_reminders,
    missed_reminders_line,
)
from assistant.store.database import Database
from assistant.store.models import Reminder, ReminderStatus
from assistant.store.repository import ReminderRepository
from assistant.tools.reminders import CANCEL_REMINDER
from tests.tools.conftest import NOW

POLL = 0.01


@dataclass
class Clock:
    at: datetime = NOW

    def __call__(self) -> datetime:
        return self.at


def greeted_already() -> asyncio.Event:
    event = asyncio.Event()
    event.set()
    return event


def new_future() -> asyncio.Future[bool]:
    return asyncio.get_running_loop().create_future()


@dataclass
class StubSession:
    """The parts of VoiceSession that reminder delivery uses.

    What it says is heard at once, unless ``hearing`` is False: then each `say`'s future waits
    for the test (``heard``), and `end` settles what is left as not heard, as the real session
    does when its pipeline ends."""

    spec: SessionSpec
    now: Clock
    db: Database
    hearing: bool = True
    said: list[str] = field(default_factory=list)
    heard: list[asyncio.Future[bool]] = field(default_factory=list)
    notified: list[dict[str, Any]] = field(default_factory=list)
    live_tasks: list = field(default_factory=list)
    greeting_extras: list = field(default_factory=list)
    greeted: asyncio.Event = field(default_factory=greeted_already)
    greeting_heard: asyncio.Future[bool] = field(default_factory=new_future)
    said_before_greeting: list[str] = field(default_factory=list)
    # Notified at each `say`; sessions waited on together (`wait_said`) share one.
    spoke: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def say(self, text: str) -> asyncio.Future[bool]:
        self.said.append(text)
        if not self.greeted.is_set():
            self.said_before_greeting.append(text)
        heard = new_future()
        if self.hearing:
            heard.set_result(True)
        self.heard.append(heard)
        async with self.spoke:
            self.spoke.notify_all()
        return heard

    async def notify(self, message: dict[str, Any]) -> None:
        self.notified.append(message)

    def end(self) -> None:
        for heard in [*self.heard, self.greeting_heard]:
            if not heard.done():
                heard.set_result(False)


class Ticks:
    """Counts the reminder scheduler's finished ticks, so a test can wait for some to pass
    (rather than sleep and hope they did)."""

    def __init__(self) -> None:
        self.count = 0
        self._changed = asyncio.Condition()

    async def ticked(self) -> None:
        async with self._changed:
            self.count += 1
            self._changed.notify_all()

    async def wait(self, n: int = 3) -> None:
        """Until ``n`` more ticks have finished (each checked, claimed and spoke in full)."""
        target = self.count + n
        async with asyncio.timeout(10), self._changed:
            await self._changed.wait_for(lambda: self.count >= target)


def count_ticks(monkeypatch) -> Ticks:
    counter = Ticks()
    real_tick = ReminderScheduler._tick

    async def counted(self) -> None:
        await real_tick(self)
        await counter.ticked()

    monkeypatch.setattr(ReminderScheduler, "_tick", counted)
    return counter


@pytest.fixture
def ticks(monkeypatch) -> Ticks:
    return count_ticks(monkeypatch)


@pytest.fixture
def scheduler(db: Database) -> ReminderScheduler:
    """The one scheduler of the test's database, as the app makes one for its sessions."""
    return ReminderScheduler(db, POLL)


async def add(context, text: str, due: datetime, zone: str = "UTC") -> int:
    async with context.db.transaction() as session:
        repo = ReminderRepository(session, context.user_id)
        return (await repo.add(text, due, zone, context.conversation_id)).id


async def statuses(context) -> dict[str, ReminderStatus]:
    async with context.db.transaction() as session:
        rows = await session.scalars(select(Reminder).where(Reminder.user_id == context.user_id))
        return {r.text: r.status for r in rows}


def stub(
    context,
    clock: Clock | None = None,
    *,
    hearing: bool = True,
    spoke: asyncio.Condition | None = None,
) -> StubSession:
    spec = SessionSpec(context.user_id, "alice", context.conversation_id, context.timezone)
    session = StubSession(spec=spec, now=clock or Clock(), db=context.db, hearing=hearing)
    if spoke is not None:
        session.spoke = spoke
    return session


async def wait_said(*sessions: StubSession, count: int = 1) -> None:
    """Until ``sessions`` (sharing one ``spoke``) have said ``count`` things between them."""
    spoke = sessions[0].spoke
    assert all(session.spoke is spoke for session in sessions)
    async with asyncio.timeout(10), spoke:
        await spoke.wait_for(lambda: sum(len(s.said) for s in sessions) >= count)


async def start_delivery(
    session: StubSession, scheduler: ReminderScheduler, **kwargs
) -> asyncio.Task:
    """Live delivery for ``session``, once ``scheduler`` watches it."""
    watching = scheduler.watching
    task = asyncio.create_task(deliver_due_reminders(session, scheduler, **kwargs))
    await asyncio.sleep(0)  # one step of the task: it registers before its first await
    assert scheduler.watching == watching + 1
    return task


async def end_session(session: StubSession, delivery: asyncio.Task) -> None:
    """The session ends as a real one does: its unsettled speech was not heard, and its
    delivery task is cancelled."""
    session.end()
    delivery.cancel()
    await asyncio.gather(delivery, return_exceptions=True)


@contextlib.asynccontextmanager
async def delivering(session: StubSession, scheduler: ReminderScheduler, **kwargs):
    delivery = await start_delivery(session, scheduler, **kwargs)
    try:
        yield delivery
    finally:
        await end_session(session, delivery)


async def until_said(session: StubSession, delivery) -> None:
    """Run `delivery` (a live task's coroutine) until the session has said something."""
    task = asyncio.create_task(delivery)
    try:
        await wait_said(session)
    finally:
        session.end()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_live_delivery_speaks_each_due_reminder_once(tool_context, ticks, scheduler):
    clock = Clock()
    session = stub(tool_context, clock)
    await add(tool_context, "stretch", NOW + timedelta(seconds=30))
    await add(tool_context, "later", NOW + timedelta(hours=1))
    async with delivering(session, scheduler):
        await ticks.wait()
        assert session.said == []  # not due yet

        clock.at = NOW + timedelta(seconds=31)
        await wait_said(session)
        await ticks.wait()  # more ticks: still said only once

    assert session.said == ["Reminder: stretch"]
    assert session.notified == [
        {"type": "reminder-due", "text": "stretch", "due_at": "2025-03-14T15:30:30+00:00"},
        {"type": "reminders-changed"},
    ]
    assert await statuses(tool_context) == {
        "stretch": ReminderStatus.DELIVERED,
        "later": ReminderStatus.PENDING,
    }


async def test_two_live_sessions_of_one_user_speak_a_reminder_once(tool_context, ticks, scheduler):
    clock = Clock()
    first = stub(tool_context, clock)
    second = stub(tool_context, clock, spoke=first.spoke)
    for n in range(5):
        await add(tool_context, f"r{n}", NOW + timedelta(seconds=10))
    async with (
        delivering(first, scheduler),
        delivering(second, scheduler),
    ):  # both watched before it comes due
        clock.at = NOW + timedelta(seconds=11)
        await wait_said(first, second, count=5)
        await ticks.wait()

    assert sorted(first.said + second.said) == [f"Reminder: r{n}" for n in range(5)]


async def test_a_claim_not_yet_heard_is_not_said_by_another_live_session(
    tool_context, ticks, scheduler
):
    """While one session is saying a reminder, another of the same user leaves it alone; if
    the first ends before its words were heard, the other (still live) says it."""
    clock = Clock()
    first = stub(tool_context, clock, hearing=False)
    second = stub(tool_context, clock)
    await add(tool_context, "stretch", NOW + timedelta(seconds=10))
    first_delivery = await start_delivery(first, scheduler)
    try:
        clock.at = NOW + timedelta(seconds=11)
        await wait_said(first)
        async with delivering(second, scheduler, since=NOW):  # its window holds the reminder too
            await ticks.wait()
            assert second.said == []
            assert await statuses(tool_context) == {"stretch": ReminderStatus.DELIVERING}
            await end_session(first, first_delivery)  # its page closed before the words went out
            await wait_said(second)
    finally:
        await end_session(first, first_delivery)
    assert first.said == second.said == ["Reminder: stretch"]
    assert await statuses(tool_context) == {"stretch": ReminderStatus.DELIVERED}


async def test_reminders_due_before_the_session_are_left_to_the_greeting(
    tool_context, ticks, scheduler
):
    await add(tool_context, "while away", NOW - timedelta(hours=2))
    session = stub(tool_context)
    async with delivering(session, scheduler):
        await ticks.wait()

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
    claims = ReminderClaims(session)

    line = await missed_reminders_line(session, claims)

    assert line == (
        "While you were away, 2 reminders came due: "
        "take pills, yesterday at 11:25; call mom, today at 9:30."
    )
    # Claimed, not delivered: not until the greeting is heard.
    claimed = {"call mom.": ReminderStatus.DELIVERING, "take pills": ReminderStatus.DELIVERING}
    assert await statuses(alice) == {**claimed, "future": ReminderStatus.PENDING}
    # Claimed means claimed: another tab's greeting doesn't say them too.
    other = stub(alice)
    assert await missed_reminders_line(other, ReminderClaims(other)) is None

    session.greeting_heard.set_result(True)
    await claims.release()  # the session ends: what was heard is marked delivered first
    assert await statuses(alice) == {
        "call mom.": ReminderStatus.DELIVERED,
        "take pills": ReminderStatus.DELIVERED,
        "future": ReminderStatus.PENDING,
    }
    assert await statuses(bob) == {"bob's own": ReminderStatus.PENDING}
    assert session.notified == [{"type": "reminders-changed"}]
    again = stub(alice)
    assert await missed_reminders_line(again, ReminderClaims(again)) is None


async def test_a_greeting_never_heard_gives_its_reminders_back(tool_context):
    """The page closed before the greeting was said: its missed reminders are due again, and
    the next greeting says them."""
    await add(tool_context, "water plants", NOW - timedelta(minutes=10))
    session = stub(tool_context)
    claims = ReminderClaims(session)
    assert await missed_reminders_line(session, claims) is not None
    session.end()  # the greeting was never heard
    await claims.release()

    assert await statuses(tool_context) == {"water plants": ReminderStatus.PENDING}
    assert session.notified == []
    later = stub(tool_context)
    assert await missed_reminders_line(later, ReminderClaims(later)) == (
        "While you were away, a reminder came due: water plants, today at 15:20."
    )


async def test_a_reminder_unheard_when_the_session_ends_opens_the_next_greeting(
    tool_context, scheduler
):
    """Queued to be said, but the session ended before the words reached the page: not
    delivered. It is due again, and the next session's greeting says it."""
    clock = Clock()
    session = stub(tool_context, clock, hearing=False)
    await add(tool_context, "stretch", NOW + timedelta(seconds=1))
    async with delivering(session, scheduler):
        clock.at = NOW + timedelta(seconds=2)
        await wait_said(session)
        assert await statuses(tool_context) == {"stretch": ReminderStatus.DELIVERING}
    # `delivering` ended the session with the words still unheard.
    assert session.said == ["Reminder: stretch"]
    assert await statuses(tool_context) == {"stretch": ReminderStatus.PENDING}

    next_session = stub(tool_context, clock)
    line = await missed_reminders_line(next_session, ReminderClaims(next_session))
    assert line == "While you were away, a reminder came due: stretch, today at 15:30."


async def test_a_reminder_is_never_said_twice_in_one_session(tool_context, ticks, scheduler):
    """Not heard (yet, or ever: the user cut it off), a reminder stays this session's claim;
    tick after tick, and even once the claim's lease has run out, this session doesn't say it
    again. Given back when the session ends."""
    clock = Clock()
    session = stub(tool_context, clock, hearing=False)
    await add(tool_context, "stretch", NOW + timedelta(seconds=1))
    async with delivering(session, scheduler):
        clock.at = NOW + timedelta(seconds=2)
        await wait_said(session)
        await ticks.wait()
        clock.at += CLAIM_LEASE + timedelta(seconds=1)
        await ticks.wait()
        assert session.said == ["Reminder: stretch"]
    assert await statuses(tool_context) == {"stretch": ReminderStatus.PENDING}


async def test_a_claim_whose_session_died_is_taken_over_once_its_lease_runs_out(
    tool_context, scheduler
):
    """A process that died mid-reminder never gave its claim back: once the lease has run out,
    a live session says it, although it came due before that session started."""
    clock = Clock()
    await add(tool_context, "stretch", NOW - timedelta(minutes=1))
    dead = stub(tool_context, clock)
    assert len(await ReminderClaims(dead).claim(clock(), lambda r: True)) == 1  # never settled

    session = stub(tool_context, clock)
    async with delivering(session, scheduler):
        clock.at = NOW + CLAIM_LEASE + timedelta(seconds=1)
        await wait_said(session)
    assert session.said == ["Reminder: stretch"]
    assert await statuses(tool_context) == {"stretch": ReminderStatus.DELIVERED}


async def test_one_missed_reminder_and_many(tool_context):
    async def greeting_line() -> str | None:
        session = stub(tool_context)
        return await missed_reminders_line(session, ReminderClaims(session))

    await add(tool_context, "water plants", NOW - timedelta(minutes=10))
    assert await greeting_line() == (
        "While you were away, a reminder came due: water plants, today at 15:20."
    )
    for n in range(7):
        await add(tool_context, f"r{n}", NOW - timedelta(minutes=10 - n))
    line = await greeting_line()
    assert line.startswith("While you were away, 7 reminders came due: r0, today at 15:20; ")
    assert line.endswith("r4, today at 15:24; and 2 more.")


async def test_attach_splits_at_one_instant(tool_context, scheduler):
    clock = Clock()
    session = stub(tool_context, clock)
    attach_reminders(session, scheduler)
    assert len(session.live_tasks) == 1 and len(session.greeting_extras) == 1

    # Both come due only after the session was built, one of them before the greeting runs:
    # neither is the greeting's, and the live task speaks both.
    await add(tool_context, "after start", NOW + timedelta(seconds=1))
    await add(tool_context, "before start", NOW - timedelta(seconds=1))
    clock.at = NOW + timedelta(seconds=5)
    line = await session.greeting_extras[0](session)
    assert line == "While you were away, a reminder came due: before start, today at 15:29."

    session.greeting_heard.set_result(True)
    await until_said(session, session.live_tasks[0](session))
    assert session.said == ["Reminder: after start"]
    assert await statuses(tool_context) == {
        "after start": ReminderStatus.DELIVERED,
        "before start": ReminderStatus.DELIVERED,
    }


async def test_delivery_survives_a_store_failure(tool_context, monkeypatch, scheduler):
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
    await until_said(session, deliver_due_reminders(session, scheduler, since=NOW))
    assert failures and session.said == ["Reminder: still comes"]


async def test_marking_a_heard_reminder_survives_a_store_failure(
    tool_context, monkeypatch, scheduler
):
    monkeypatch.setattr(reminders_module, "FINISH_RETRY_SECS", 0)
    clock = Clock()
    session = stub(tool_context, clock)
    real_mark = ReminderRepository.mark_delivered
    failures = []

    async def flaky_mark(self, *args, **kwargs):
        if not failures:
            failures.append(args)
            raise OSError("database is locked")
        return await real_mark(self, *args, **kwargs)

    monkeypatch.setattr(ReminderRepository, "mark_delivered", flaky_mark)
    await add(tool_context, "still delivered", NOW + timedelta(seconds=1))
    clock.at = NOW + timedelta(seconds=2)
    await until_said(session, deliver_due_reminders(session, scheduler, since=NOW))
    assert failures
    assert await statuses(tool_context) == {"still delivered": ReminderStatus.DELIVERED}


class EventWithWaiters(asyncio.Event):
    """An Event that tells when someone waits on it."""

    def __init__(self) -> None:
        super().__init__()
        self.waited_on = asyncio.Event()

    async def wait(self) -> bool:
        self.waited_on.set()
        return await super().wait()


async def test_live_delivery_waits_for_the_greeting(tool_context, monkeypatch, scheduler):
    monkeypatch.setattr(reminders_module, "GREETING_WAIT_SECS", 3600)
    clock = Clock()
    session = stub(tool_context, clock)
    session.greeted = EventWithWaiters()  # the page is not ready yet
    attach_reminders(session, scheduler)
    await add(tool_context, "stretch", NOW + timedelta(seconds=1))
    clock.at = NOW + timedelta(seconds=2)

    async def greet_once_waited_for() -> None:
        await session.greeted.waited_on.wait()  # delivery is waiting for the greeting
        session.greeted.set()

    greeting = asyncio.create_task(greet_once_waited_for())
    try:
        await until_said(session, session.live_tasks[0](session))
    finally:
        greeting.cancel()
    assert session.said == ["Reminder: stretch"]
    assert session.said_before_greeting == []


async def test_a_page_that_never_gets_ready_still_gets_its_reminders(
    tool_context, monkeypatch, scheduler
):
    monkeypatch.setattr(reminders_module, "GREETING_WAIT_SECS", 0.05)
    clock = Clock()
    session = stub(tool_context, clock)
    session.greeted = asyncio.Event()  # and never set
    attach_reminders(session, scheduler)
    await add(tool_context, "stretch", NOW + timedelta(seconds=1))
    clock.at = NOW + timedelta(seconds=2)
    await until_said(session, session.live_tasks[0](session))
    assert session.said == ["Reminder: stretch"]


async def test_a_claim_that_lands_after_the_session_ended_is_given_back(tool_context, monkeypatch):
    """A tick was claiming when the session ended: what it got is given back, not held (for
    a lease) by a session that can no longer say it."""
    await add(tool_context, "stretch", NOW - timedelta(minutes=1))
    session = stub(tool_context)
    claims = ReminderClaims(session)
    claiming, go_on = asyncio.Event(), asyncio.Event()
    real_claim = ReminderRepository.claim

    async def slow_claim(self, *args, **kwargs):
        claiming.set()
        await go_on.wait()
        return await real_claim(self, *args, **kwargs)

    monkeypatch.setattr(ReminderRepository, "claim", slow_claim)
    claim = asyncio.create_task(claims.claim(NOW, lambda r: True))
    await claiming.wait()
    await claims.release()  # the session ends
    go_on.set()
    assert await claim == []
    assert await statuses(tool_context) == {"stretch": ReminderStatus.PENDING}


async def test_a_reminder_being_said_cannot_be_cancelled(tool_context, call_tool):
    reminder_id = await add(tool_context, "stretch", NOW - timedelta(minutes=1))
    session = stub(tool_context)
    assert len(await ReminderClaims(session).claim(NOW, lambda r: True)) == 1

    result = await call_tool(CANCEL_REMINDER, reminder_id=reminder_id)
    assert result["ok"] is False
    assert "going off right now" in result["error"]
    assert await statuses(tool_context) == {"stretch": ReminderStatus.DELIVERING}


async def test_of_concurrent_claims_on_a_reminder_one_wins(tool_context):
    reminder_id = await add(tool_context, "once", NOW - timedelta(minutes=1))

    async def claim(token: str) -> bool:
        async with tool_context.db.transaction() as store:
            reminders = ReminderRepository(store, tool_context.user_id)
            return await reminders.claim(reminder_id, token, NOW, NOW + CLAIM_LEASE)

    won = await asyncio.gather(*(claim(f"session{n}") for n in range(10)))
    assert sorted(won) == [False] * 9 + [True]
    # Only the winner can mark it delivered or give it back.
    winner = f"session{won.index(True)}"
    loser = f"session{won.index(False)}"
    async with tool_context.db.transaction() as store:
        reminders = ReminderRepository(store, tool_context.user_id)
        assert await reminders.release(loser, [reminder_id]) == 0
        assert await reminders.mark_delivered(reminder_id, NOW, claimed_by=loser) is False
        assert await reminders.mark_delivered(reminder_id, NOW) is False  # not pending
        assert await reminders.mark_delivered(reminder_id, NOW, claimed_by=winner) is True
    assert await statuses(tool_context) == {"once": ReminderStatus.DELIVERED}
