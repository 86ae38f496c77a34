"""One reminder scheduler per app: one query per tick serves every live session."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import event

from assistant.runtime.reminders import ReminderScheduler, deliver_due_reminders
from assistant.store.models import ReminderStatus
from assistant.store.repository import ReminderRepository
from tests.tools.conftest import NOW
from tests.tools.test_reminder_delivery import (
    POLL,
    Clock,
    Ticks,
    add,
    count_ticks,
    end_session,
    start_delivery,
    statuses,
    stub,
    wait_said,
)


@pytest.fixture
def ticks(monkeypatch) -> Ticks:
    return count_ticks(monkeypatch)


@pytest.fixture
def scheduler(db) -> ReminderScheduler:
    return ReminderScheduler(db, POLL)


def scheduler_tasks() -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "reminder-scheduler" and not t.done()]


async def stop(tasks: list[asyncio.Task]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_one_scheduler_serves_two_users_each_their_own_reminder(
    make_context, ticks: Ticks, scheduler: ReminderScheduler
):
    alice, bob = await make_context("alice"), await make_context("bob")
    clock = Clock()
    alices = stub(alice, clock)
    bobs = stub(bob, clock, spoke=alices.spoke)
    await add(alice, "alice's", NOW + timedelta(seconds=10))
    await add(bob, "bob's", NOW + timedelta(seconds=20))
    await add(bob, "bob's while away", NOW - timedelta(hours=1))  # the greeting's, not ours
    deliveries = [await start_delivery(s, scheduler) for s in (alices, bobs)]
    try:
        assert scheduler.watching == 2
        assert len(scheduler_tasks()) == 1  # not one per session

        clock.at = NOW + timedelta(seconds=30)
        await wait_said(alices, bobs, count=2)
        await ticks.wait()  # more ticks: nothing said twice, nothing crosses over
    finally:
        for session, delivery in zip((alices, bobs), deliveries, strict=True):
            await end_session(session, delivery)

    assert alices.said == ["Reminder: alice's"]
    assert bobs.said == ["Reminder: bob's"]
    assert [m["type"] for m in alices.notified] == ["reminder-due", "reminders-changed"]
    assert alices.notified[0]["text"] == "alice's" and bobs.notified[0]["text"] == "bob's"
    assert await statuses(alice) == {"alice's": ReminderStatus.DELIVERED}
    assert await statuses(bob) == {
        "bob's": ReminderStatus.DELIVERED,
        "bob's while away": ReminderStatus.PENDING,
    }


async def test_nothing_due_costs_one_query_per_tick_for_all_sessions(
    make_context, db, monkeypatch, ticks: Ticks
):
    contexts = [await make_context(f"user{n}") for n in range(3)]
    for context in contexts:
        await add(context, "later", NOW + timedelta(hours=1))

    due_calls = []
    real_due = ReminderRepository.due

    async def counting_due(self, *args, **kwargs):
        due_calls.append(self)
        return await real_due(self, *args, **kwargs)

    monkeypatch.setattr(ReminderRepository, "due", counting_due)
    queries = []

    def record(_conn, _cursor, statement, *_args):
        if "reminders" in statement:
            queries.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    sessions = [stub(context) for context in contexts]
    shared = ReminderScheduler(db, poll_secs=0.005)
    tasks = [asyncio.create_task(deliver_due_reminders(s, shared)) for s in sessions]
    try:
        await asyncio.sleep(0)  # one step each: registered
        assert shared.watching == 3
        ticks_before, queries_before = ticks.count, len(queries)
        await ticks.wait(10)
        ticks_during, queries_during = ticks.count - ticks_before, len(queries) - queries_before
    finally:
        await stop(tasks)
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)

    # One probe per tick for all three sessions (±1: a tick may straddle the count), and no
    # per-user claim queries while nothing is due.
    assert abs(queries_during - ticks_during) <= 1, (queries_during, ticks_during)
    assert due_calls == []
    assert all(s.said == [] for s in sessions)


async def test_scheduler_ends_with_its_last_session_and_restarts_for_the_next(
    make_context, scheduler: ReminderScheduler
):
    alice = await make_context("alice")
    clock = Clock()
    first = asyncio.create_task(deliver_due_reminders(stub(alice, clock), scheduler))
    await asyncio.sleep(0)  # one step: registered, and the scheduler started
    assert len(scheduler_tasks()) == 1
    await stop([first])
    assert not scheduler_tasks()  # stopped, and waited for: nothing outlives the sessions

    # A session that comes later gets a working scheduler again.
    await add(alice, "after", NOW + timedelta(seconds=5))
    later = stub(alice, clock)
    second = await start_delivery(later, scheduler, since=NOW)
    try:
        clock.at = NOW + timedelta(seconds=6)
        await wait_said(later)
    finally:
        await end_session(later, second)
    assert later.said == ["Reminder: after"]


async def test_the_last_session_leaving_waits_for_a_query_in_flight(
    make_context, monkeypatch, scheduler: ReminderScheduler
):
    """The database may be disposed as soon as the sessions are gone: a check still running
    then would hang on a closed connection. So the last session's end waits for it."""
    alice = await make_context("alice")
    in_query, finished = asyncio.Event(), []

    async def slow_probe(self, watches):
        in_query.set()
        try:
            await asyncio.Event().wait()  # a query that takes long
        finally:
            await asyncio.sleep(0.01)  # and a rollback that takes a moment
            finished.append(True)

    monkeypatch.setattr(ReminderScheduler, "_users_with_due", slow_probe)
    task = asyncio.create_task(deliver_due_reminders(stub(alice), scheduler))
    await in_query.wait()
    await stop([task])
    assert finished == [True] and not scheduler_tasks()
