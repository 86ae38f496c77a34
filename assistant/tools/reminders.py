"""Reminders: set, list and cancel them, and speak them when they come due.

Times are stored in UTC with the user's IANA zone. ``when`` is ISO 8601 (naive = the user's
local time, an offset is honoured) or the user's own words, resolved by dateparser relative to
the session's clock. Delivery is claim, say, confirm (``ReminderClaims``): the atomic
pending→delivering claim means of two live sessions of one user only one says a reminder, and
it counts as delivered only once the words reached the page; if the session ends first it is
due again, and the next greeting opens with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import dateparser
from dateparser.timezone_parser import pop_tz_offset_from_string
from loguru import logger
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from sqlalchemy import and_, or_, select

from assistant.store.database import Database
from assistant.store.models import Reminder, ReminderStatus
from assistant.store.repository import NotFoundError, ReminderRepository
from assistant.tools.base import (
    Tool,
    ToolContext,
    ToolError,
    ToolLabel,
    notify_safely,
    ok,
    reject_bool,
    storable_text,
)

if TYPE_CHECKING:
    from assistant.pipeline.builder import VoiceSession

TEXT_MAX_CHARS = 500
WHEN_MAX_CHARS = 100
# A time this little in the past is "now" (the LLM rounding to the minute, a slow turn); it is
# stored as now so it is still delivered. Anything older is a mistake to report.
PAST_GRACE = timedelta(seconds=90)
# dateparser happily returns year 9999; nobody means that.
MAX_AHEAD = timedelta(days=5 * 366)
# Missed reminders are read out in the greeting: name a few, count the rest.
MISSED_NAMED = 5
_MAX_ID = 2**63 - 1

REMINDERS_CHANGED = {"type": "reminders-changed"}

# dateparser reads a lone number as a day of the month ("at 9" → the 9th), and doesn't know
# "o'clock": make those hours explicit before handing the words over.
_BARE_HOUR = re.compile(
    r"\b(at|by|around)\s+(\d{1,2})\b(?![:.]\d)(?!\s*(?:[ap]\.?m\b|o'?\s*clock|h\b))", re.I
)
_OCLOCK = re.compile(r"\b(\d{1,2})\s*o'?\s*clock\b", re.I)


def _as_utc(moment: datetime) -> datetime:
    # A naive clock value is taken as UTC (what ToolContext.now promises anyway).
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _parse_words(when: str, zone: ZoneInfo, now: datetime) -> datetime | None:
    text = _OCLOCK.sub(r"\1:00", when)
    text = _BARE_HOUR.sub(r"\1 \2:00", text)
    settings: dict[str, Any] = {
        "PREFER_DATES_FROM": "future",
        # The base is the user's wall clock. TIMEZONE is deliberately UTC (a zero offset), not
        # the user's zone: dateparser 1.5 does "in 20 minutes" in the base's wall clock but
        # compares a bare time ("9am") against the base shifted by TIMEZONE's offset, which
        # puts "9am" on the wrong day east or west of UTC. The zone is attached below.
        "RELATIVE_BASE": now.astimezone(zone).replace(tzinfo=None),
        "TIMEZONE": "UTC",
        "RETURN_AS_TIMEZONE_AWARE": True,
    }
    try:
        parsed = dateparser.parse(text, languages=["en"], settings=settings)
    except Exception:  # dateparser has overflow and regex edge cases on odd input
        logger.opt(exception=True).debug(f"dateparser failed on {when!r}")
        return None
    if parsed is None:
        return None
    if pop_tz_offset_from_string(text)[1] is not None:
        return parsed  # a zone was named ("9am EST"): dateparser converted it to UTC already
    return parsed.replace(tzinfo=zone)  # the user's wall-clock time


def resolve_when(when: str, timezone: str, now: datetime) -> datetime:
    """The UTC instant ``when`` means for a user in ``timezone`` at ``now``.

    Raises ``ToolError`` when it can't be understood, is in the past (beyond a small grace,
    within which it becomes ``now``) or is absurdly far ahead.
    """
    zone = ZoneInfo(timezone)
    now = _as_utc(now)
    text = when.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = _parse_words(text, zone, now)
        if moment is None:
            raise ToolError(
                f"couldn't understand the time {when!r}; give an ISO 8601 local time like "
                f"{(now + timedelta(hours=1)).astimezone(zone):%Y-%m-%dT%H:%M} "
                "or words like 'in 20 minutes' or 'tomorrow at 9am'"
            ) from None
    else:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
    moment = moment.astimezone(UTC)
    if moment < now - PAST_GRACE:
        local = moment.astimezone(zone)
        raise ToolError(
            f"{when!r} means {describe_time(moment, timezone, now)} "
            f"({local.isoformat(timespec='minutes')}), which is in the past; it is now "
            f"{now.astimezone(zone).isoformat(timespec='minutes')}"
        )
    if moment > now + MAX_AHEAD:
        raise ToolError(f"{when!r} is more than five years ahead; pick a nearer time")
    return max(moment, now)


def describe_time(moment: datetime, timezone: str, now: datetime) -> str:
    """Speakable local time: 'today at 9:05', 'tomorrow at 21:00', 'Friday 21 March at 9:00'."""
    zone = ZoneInfo(timezone)
    local = moment.astimezone(zone)
    days = (local.date() - _as_utc(now).astimezone(zone).date()).days
    clock = f"{local.hour}:{local.minute:02d}"
    if days == 0:
        return f"today at {clock}"
    if days == 1:
        return f"tomorrow at {clock}"
    if days == -1:
        return f"yesterday at {clock}"
    year = "" if local.year == _as_utc(now).astimezone(zone).year else f" {local.year}"
    return f"{local:%A} {local.day} {local:%B}{year} at {clock}"


def _item(reminder: Reminder, now: datetime) -> dict[str, Any]:
    local = reminder.due_at.astimezone(ZoneInfo(reminder.timezone))
    return {
        "id": reminder.id,
        "text": reminder.text,
        "due": describe_time(reminder.due_at, reminder.timezone, now),
        "due_local": local.isoformat(timespec="minutes"),
    }


# --------------------------------------------------------------------------- plain functions


async def set_reminder(
    db: Database,
    user_id: int,
    text: str,
    when: str,
    *,
    timezone: str,
    now: datetime,
    conversation_id: str | None = None,
) -> dict[str, Any]:
    due_at = resolve_when(when, timezone, now)
    async with db.session() as session:
        reminders = ReminderRepository(session, user_id)
        try:
            reminder = await reminders.add(text, due_at, timezone, conversation_id)
        except NotFoundError:
            # The conversation was deleted mid-session; the reminder outlives it anyway.
            reminder = await reminders.add(text, due_at, timezone)
    return ok(reminder=_item(reminder, now))


async def list_reminders(
    db: Database, user_id: int, *, now: datetime, limit: int = 10
) -> dict[str, Any]:
    async with db.session() as session:
        reminders = await ReminderRepository(session, user_id).upcoming(limit)
    return ok(reminders=[_item(r, now) for r in reminders], count=len(reminders))


async def cancel_reminder(
    db: Database, user_id: int, reminder_id: int, *, now: datetime
) -> dict[str, Any]:
    missing = ToolError(f"no reminder with id {reminder_id}")
    if reminder_id > _MAX_ID:
        raise missing
    async with db.session() as session:
        reminders = ReminderRepository(session, user_id)
        reminder = await reminders.get(reminder_id)
        if reminder is None:
            raise missing
        if reminder.status is ReminderStatus.DELIVERED:
            raise ToolError(f"reminder {reminder_id} already went off")
        if reminder.status is ReminderStatus.CANCELLED:
            raise ToolError(f"reminder {reminder_id} was already cancelled")
        if reminder.status is ReminderStatus.DELIVERING:
            raise ToolError(f"reminder {reminder_id} is going off right now")
        if not await reminders.cancel(reminder_id):
            raise ToolError(f"reminder {reminder_id} went off just now")  # lost the race
    return ok(cancelled=_item(reminder, now))


# --------------------------------------------------------------------------- tools


class _Args(BaseModel):
    # Extra keys are ignored: the user and conversation never come from the LLM.
    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")


class SetReminderArgs(_Args):
    text: Annotated[str, AfterValidator(storable_text)] = Field(
        min_length=1,
        max_length=TEXT_MAX_CHARS,
        description="What to say then, e.g. 'call mom'.",
    )
    when: Annotated[str, AfterValidator(storable_text)] = Field(
        min_length=1,
        max_length=WHEN_MAX_CHARS,
        description="Local ISO 8601 time (2025-03-15T09:00) or the user's words ('in 20 minutes').",
    )


class ListRemindersArgs(_Args):
    limit: Annotated[int, BeforeValidator(reject_bool)] = Field(10, ge=1, le=20)


class CancelReminderArgs(_Args):
    reminder_id: Annotated[int, BeforeValidator(reject_bool)] = Field(ge=1)


async def _set(context: ToolContext, args: SetReminderArgs) -> dict[str, Any]:
    result = await set_reminder(
        context.db,
        context.user_id,
        args.text,
        args.when,
        timezone=context.timezone,
        now=context.now(),
        conversation_id=context.conversation_id,
    )
    await notify_safely(context, REMINDERS_CHANGED)
    return result


async def _list(context: ToolContext, args: ListRemindersArgs) -> dict[str, Any]:
    return await list_reminders(context.db, context.user_id, now=context.now(), limit=args.limit)


async def _cancel(context: ToolContext, args: CancelReminderArgs) -> dict[str, Any]:
    result = await cancel_reminder(context.db, context.user_id, args.reminder_id, now=context.now())
    await notify_safely(context, REMINDERS_CHANGED)
    return result


SET_REMINDER = Tool(
    name="set_reminder",
    description="Remind the user of something at a time (you say it aloud then).",
    arguments=SetReminderArgs,
    run=_set,
    label=ToolLabel("set a reminder", "setting a reminder"),
)
LIST_REMINDERS = Tool(
    name="list_reminders",
    description="The user's upcoming reminders, soonest first, with ids.",
    arguments=ListRemindersArgs,
    run=_list,
    label=ToolLabel("checked reminders", "checking reminders"),
)
CANCEL_REMINDER = Tool(
    name="cancel_reminder",
    description="Cancel an upcoming reminder.",
    arguments=CancelReminderArgs,
    run=_cancel,
    label=ToolLabel("cancelled a reminder", "cancelling a reminder"),
)

REMINDER_TOOLS: list[Tool] = [SET_REMINDER, LIST_REMINDERS, CANCEL_REMINDER]


# --------------------------------------------------------------------------- delivery

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
                    self._held.add(reminder.id)
                    claimed.append(
                        _Claimed(reminder.id, reminder.text, reminder.due_at, reminder.timezone)
                    )
            if self._released and claimed:  # the session ended meanwhile: nobody will say them
                await reminders.release(self.token, [reminder.id for reminder in claimed])
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
        now = _as_utc(self._session.now())
        for attempt in range(1, FINISH_ATTEMPTS + 1):
            try:
                async with self._session.db.session() as store:
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
            async with session.db.session() as store:
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
    """Live delivery for every watched session of one database, from one task.

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

    async def watch(self, session: VoiceSession, since: datetime, claims: ReminderClaims) -> None:
        """Deliver ``session``'s reminders due at or after ``since``, until cancelled."""
        watch = _Watch(session, _as_utc(since), claims)
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
        watches = [(watch, _as_utc(watch.session.now())) for watch in self._watches]
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


# One scheduler per (event loop, database, tick) — in the server, one per process. Dropped
# when its last session ends, so nothing outlives its loop.
_SCHEDULERS: dict[tuple[asyncio.AbstractEventLoop, Database, float], ReminderScheduler] = {}


def _scheduler_key(db: Database, poll_secs: float):
    return (asyncio.get_running_loop(), db, poll_secs)


def reminder_scheduler(db: Database, poll_secs: float = 1.0) -> ReminderScheduler:
    """The running loop's shared scheduler for ``db``."""
    key = _scheduler_key(db, poll_secs)
    scheduler = _SCHEDULERS.get(key)
    if scheduler is None:
        scheduler = _SCHEDULERS[key] = ReminderScheduler(db, poll_secs)
    return scheduler


async def deliver_due_reminders(
    session: VoiceSession,
    *,
    poll_secs: float = 1.0,
    since: datetime | None = None,
    claims: ReminderClaims | None = None,
) -> None:
    """Live task: speak each reminder as it comes due, for as long as the session runs.

    Only reminders due at or after ``since`` (default: when this starts) are its job; older
    ones came due while the user was away and belong to the greeting. The checking is done by
    the process's shared ``ReminderScheduler``; this only registers the session with it. With
    no ``claims`` (the session's, shared with its greeting), it keeps its own and gives back
    what was not heard when it ends.
    """
    since = _as_utc(since or session.now())
    own = claims is None
    claims = claims or ReminderClaims(session)
    scheduler = reminder_scheduler(session.db, poll_secs)
    try:
        await scheduler.watch(session, since, claims)
    finally:
        key = _scheduler_key(session.db, poll_secs)
        if not scheduler.watching and _SCHEDULERS.get(key) is scheduler:
            del _SCHEDULERS[key]
        if own:
            await claims.release()


async def missed_reminders_line(
    session: VoiceSession, claims: ReminderClaims, *, before: datetime | None = None
) -> str | None:
    """Greeting extra: claim what came due before the session (default: before now) and say it.

    They are delivered once the greeting is heard (``session.greeting_heard``); ``claims``
    gives them back if the session ends first."""
    now = _as_utc(session.now())
    cutoff = _as_utc(before) if before is not None else now
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


def attach_reminders(session: VoiceSession, poll_secs: float = 1.0) -> None:
    """Session hook: live delivery plus the greeting line, split at one shared instant so a
    reminder is either the greeting's or the live task's, never neither.

    Live delivery starts once the session has greeted: the greeting waits for the page to be
    ready, and a reminder spoken before that would go to a page that may not be playing yet
    (and come before "hello"). Reminders due meanwhile are not lost: the window starts at the
    shared instant. Both claim through the session's one ``ReminderClaims``, which the live
    task, cancelled as the session ends, settles: heard ones delivered, the rest given back."""
    started = _as_utc(session.now())
    claims = ReminderClaims(session)

    async def deliver(live: VoiceSession) -> None:
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(live.greeted.wait(), GREETING_WAIT_SECS)
            await deliver_due_reminders(live, poll_secs=poll_secs, since=started, claims=claims)
        finally:
            await claims.release()

    async def missed(live: VoiceSession) -> str | None:
        return await missed_reminders_line(live, claims, before=started)

    session.live_tasks.append(deliver)
    session.greeting_extras.append(missed)
