"""Reminder delivery: the session runtime says each reminder as it comes due.

Delivery is claim, say, confirm (``ReminderClaims``): the atomic pending→delivering claim means
of two live sessions of one user only one says a reminder, and it counts as delivered only once
the words reached the page; if the session ends first it is due again, and the next greeting
opens with it. One ``ReminderScheduler``, made by the app, checks for every live session.

Importing this loads no voice stack: the app makes its scheduler before the warm-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from loguru import logger
from sqlalchemy import and_, or_, select

from assistant.store.database import Database
from assistant.store.models import Reminder, ReminderStatus
from assistant.store.repository import ReminderRepository
from assistant.tools.base import notify_safely
from assistant.tools.reminders import REMINDERS_CHANGED, as_utc, describe_time

if TYPE_CHECKING:
    from assistant.pipeline.builder import VoiceSession

# Missed reminders are read out in the greeting: name a few, count the rest.
MISSED_NAMED = 5
# How long a session's claim on a reminder holds before another may take it over. Far longer
# than saying one takes, so only an unheard claim runs out: its session died without giving
# it back, or its words were cut off and the session went on.
CLAIM_LEASE = timedelta(minutes=5)
# Marking a heard reminder delivered: attempts, and the pause between them (a locked database).
FINISH_ATTEMPTS = 3
FINISH_RETRY_SECS = 0.5


@dataclass(frozen=True)
class _Claimed:
    id: int
    text: str
    due_at: datetime
    timezone: str


class ReminderClaims:
    """The reminders one session is saying.

    Claim, say, confirm: a claim marks a due reminder DELIVERING under this session's token
    (atomically, so of two live sessions of a user only one gets it); it is marked delivered
    once the words are heard (`VoiceSession.say`'s future), and given back, pending and due
    again (the next greeting opens with it), if the session ends first. A session never
    claims a reminder it claimed before, so nothing is said twice in one session. A claim is a
    lease (`CLAIM_LEASE`): one held by a session that died without giving it back can be
    claimed again once it runs out.
    """

    def __init__(self, session: VoiceSession):
        self.token = uuid.uuid4().hex
        self._session = session
        self._held: set[int] = set()  # claimed, not heard (yet)
        self._finishing: dict[asyncio.Task[None], asyncio.Future[bool]] = {}
        self._released = False

    async def claim(self, now: datetime, keep: Callable[[Reminder], bool]) -> list[_Claimed]:
        """Claim the reminders due at ``now`` that ``keep`` picks; those whose claim succeeded
        are this session's to say."""
        if self._released:  # the session is over
            return []
        session = self._session
        claimed = []
        async with session.db.session() as store:
            reminders = ReminderRepository(store, session.spec.user_id)
            # A generous limit: old missed ones (the greeting's) mustn't crowd out new ones.
            for reminder in await reminders.due(now, limit=1000):
                if reminder.claimed_by == self.token or not keep(reminder):
                    continue  # ours already (its lease ran out while unheard): not again
                if await reminders.claim(reminder.id, self.token, now, now + CLAIM_LEASE):
                    # Each claim is its own unit of work: committed at once, so the write lock
                    # is held for one reminder, and what this session holds is on disk.
                    await store.commit()
                    self._held.add(reminder.id)
                    claimed.append(
                        _Claimed(reminder.id, reminder.text, reminder.due_at, reminder.timezone)
                    )
            if self._released and claimed:  # the session ended meanwhile: nobody will say them
                await reminders.release(self.token, [reminder.id for reminder in claimed])
                await store.commit()
                return []
        return claimed

    def deliver_when_heard(self, claimed: list[_Claimed], heard: asyncio.Future[bool]) -> None:
        """Mark ``claimed`` delivered once ``heard`` says the words reached the page."""
        if claimed:
            task = asyncio.create_task(self._finish(claimed, heard), name="reminders-heard")
            self._finishing[task] = heard
            task.add_done_callback(self._finishing.pop)

    async def _finish(self, claimed: list[_Claimed], heard: asyncio.Future[bool]) -> None:
        if not await heard:
            return  # given back when the session ends
        ids = {reminder.id for reminder in claimed}
        self._held -= ids  # heard: never given back, even if marking it fails below
        now = as_utc(self._session.now())
        for attempt in range(1, FINISH_ATTEMPTS + 1):
            try:
                async with self._session.db.transaction() as store:
                    reminders = ReminderRepository(store, self._session.spec.user_id)
                    for reminder_id in sorted(ids):
                        if not await reminders.mark_delivered(
                            reminder_id, now, claimed_by=self.token
                        ):
                            logger.warning(
                                f"reminder {reminder_id}: claim lost before it was heard"
                            )
                        ids.discard(reminder_id)
                break
            except Exception:
                if attempt == FINISH_ATTEMPTS:  # its lease runs out, and it is said again
                    logger.exception(f"couldn't mark reminders {sorted(ids)} delivered")
                    return
                logger.opt(exception=True).warning("marking reminders delivered failed; retrying")
                await asyncio.sleep(FINISH_RETRY_SECS)
        await notify_safely(self._session, REMINDERS_CHANGED)

    async def release(self) -> None:
        """The session is over: what was heard is marked delivered, the rest is given back.

        Whatever has not been heard by now never will be (the session settles its futures
        as it ends); waiting on it would only hold up the session's end."""
        self._released = True
        for task, heard in list(self._finishing.items()):
            if not heard.done():
                task.cancel()
        await asyncio.gather(*self._finishing, return_exceptions=True)
        if not self._held:
            return
        session = self._session
        try:
            async with session.db.transaction() as store:
                await ReminderRepository(store, session.spec.user_id).release(
                    self.token, self._held
                )
        except Exception:  # they come back when their lease runs out
            logger.exception(f"couldn't give back the unheard reminders {sorted(self._held)}")
        self._held.clear()


@dataclass(frozen=True, eq=False)
class _Watch:
    session: VoiceSession
    since: datetime  # reminders due before this are the greeting's, not the live delivery's
    claims: ReminderClaims


class ReminderScheduler:
    """Live delivery for every watched session of one database, from one task. The app makes
    one and hands its `attach` to every session.

    A poll per session per second cost every live session a query even when nothing was due.
    Here one query per tick asks which watched users have a reminder in their window (due at or
    after the session's start, not after its clock), or one whose claim ran out; only for those
    users does a tick claim and speak. Ticks cost one query per process whatever the number of
    sessions. The task runs while something is watched.
    """

    def __init__(self, db: Database, poll_secs: float = 1.0):
        self._db = db
        self._poll_secs = poll_secs
        self._watches: list[_Watch] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def watching(self) -> int:
        return len(self._watches)

    def attach(self, session: VoiceSession) -> None:
        """Session hook: this scheduler delivers ``session``'s reminders (`attach_reminders`)."""
        attach_reminders(session, self)

    async def watch(self, session: VoiceSession, since: datetime, claims: ReminderClaims) -> None:
        """Deliver ``session``'s reminders due at or after ``since``, until cancelled."""
        watch = _Watch(session, as_utc(since), claims)
        self._watches.append(watch)
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="reminder-scheduler")
        try:
            await asyncio.get_running_loop().create_future()  # the session's lifetime
        finally:
            self._watches.remove(watch)
            if not self._watches and self._task is not None:
                # The last session is leaving: stop the task and wait for it, so that no query
                # outlives the sessions (the database may be disposed right after them).
                task, self._task = self._task, None
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await self._tick()
            except Exception:  # a bug in one tick must not end delivery for everyone
                logger.exception("reminder scheduler tick failed")
            await asyncio.sleep(self._poll_secs)

    async def _tick(self) -> None:
        watches = [(watch, as_utc(watch.session.now())) for watch in self._watches]
        try:
            users = await self._users_with_due(watches)
        except Exception:  # a locked or vanished database must not end the sessions
            logger.exception("checking for due reminders failed; retrying")
            return
        for watch, now in watches:
            if watch.session.spec.user_id in users and watch in self._watches:
                await _deliver(watch, now)

    async def _users_with_due(self, watches: list[tuple[_Watch, datetime]]) -> set[int]:
        if not watches:
            return set()
        windows = [
            and_(
                Reminder.user_id == watch.session.spec.user_id,
                Reminder.due_at <= now,
                or_(
                    and_(Reminder.status == ReminderStatus.PENDING, Reminder.due_at >= watch.since),
                    # Abandoned: its session died while saying it (not this one's own).
                    and_(
                        Reminder.status == ReminderStatus.DELIVERING,
                        Reminder.claimed_until <= now,
                        Reminder.claimed_by != watch.claims.token,
                    ),
                ),
            )
            for watch, now in watches
        ]
        stmt = select(Reminder.user_id).where(or_(*windows)).distinct()
        async with self._db.session() as session:
            return set(await session.scalars(stmt))


async def _deliver(watch: _Watch, now: datetime) -> None:
    session = watch.session

    def ours(reminder: Reminder) -> bool:
        # An abandoned claim is taken over whenever it came due: it was never heard.
        return reminder.due_at >= watch.since or reminder.status is ReminderStatus.DELIVERING

    try:
        due = await watch.claims.claim(now, ours)
    except Exception:
        logger.exception("checking for due reminders failed; retrying")
        return
    for reminder in due:
        # Each one on its own: a failure to speak one mustn't drop the others claimed. One
        # that fails stays claimed, unheard, and is given back when the session ends.
        try:
            heard = await session.say(f"Reminder: {reminder.text}")
        except Exception:
            logger.exception(f"couldn't speak the reminder {reminder.text!r}")
            continue
        watch.claims.deliver_when_heard([reminder], heard)
        await notify_safely(
            session,
            {"type": "reminder-due", "text": reminder.text, "due_at": reminder.due_at.isoformat()},
        )


async def deliver_due_reminders(
    session: VoiceSession,
    scheduler: ReminderScheduler,
    *,
    since: datetime | None = None,
    claims: ReminderClaims | None = None,
) -> None:
    """Live task: speak each reminder as it comes due, for as long as the session runs.

    Only reminders due at or after ``since`` (default: when this starts) are its job; older
    ones came due while the user was away and belong to the greeting. The checking is done by
    ``scheduler``, the one the app shares between its sessions; this only registers the
    session with it. With no ``claims`` (the session's, shared with its greeting), it keeps
    its own and gives back what was not heard when it ends.
    """
    since = as_utc(since or session.now())
    own = claims is None
    claims = claims or ReminderClaims(session)
    try:
        await scheduler.watch(session, since, claims)
    finally:
        if own:
            await claims.release()


async def missed_reminders_line(
    session: VoiceSession, claims: ReminderClaims, *, before: datetime | None = None
) -> str | None:
    """Greeting extra: claim what came due before the session (default: before now) and say it.

    They are delivered once the greeting is heard (``session.greeting_heard``); ``claims``
    gives them back if the session ends first."""
    now = as_utc(session.now())
    cutoff = as_utc(before) if before is not None else now
    missed = await claims.claim(now, lambda r: r.due_at < cutoff)
    if not missed:
        return None
    claims.deliver_when_heard(missed, session.greeting_heard)
    items = [
        f"{r.text.rstrip(' .!?;')}, {describe_time(r.due_at, r.timezone, now)}"
        for r in missed[:MISSED_NAMED]
    ]
    if len(missed) > MISSED_NAMED:
        items.append(f"and {len(missed) - MISSED_NAMED} more")
    count = "a reminder" if len(missed) == 1 else f"{len(missed)} reminders"
    return f"While you were away, {count} came due: {'; '.join(items)}."


# How long live delivery waits for the greeting before speaking anyway (a page that never
# says it is ready still gets its reminders).
GREETING_WAIT_SECS = 10.0


def attach_reminders(session: VoiceSession, scheduler: ReminderScheduler) -> None:
    """Session hook: live delivery plus the greeting line, split at one shared instant so a
    reminder is either the greeting's or the live task's, never neither.

    Live delivery starts once the session has greeted: the greeting waits for the page to be
    ready, and a reminder spoken before that would go to a page that may not be playing yet
    (and come before "hello"). Reminders due meanwhile are not lost: the window starts at the
    shared instant. Both claim through the session's one ``ReminderClaims``, which the live
    task, cancelled as the session ends, settles: heard ones delivered, the rest given back."""
    started = as_utc(session.now())
    claims = ReminderClaims(session)

    async def deliver(live: VoiceSession) -> None:
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(live.greeted.wait(), GREETING_WAIT_SECS)
            await deliver_due_reminders(live, scheduler, since=started, claims=claims)
        finally:
            await claims.release()

    async def missed(live: VoiceSession) -> str | None:
        return await missed_reminders_line(live, claims, before=started)

    session.live_tasks.append(deliver)
    session.greeting_extras.append(missed)
