"""Reminders: set, list and cancel them.

Times are stored in UTC with the user's IANA zone. ``when`` is ISO 8601 (naive = the user's
local time, an offset is honoured) or the user's own words, resolved by dateparser relative to
the session's clock. Saying them when they come due is the session runtime's job
(`assistant.runtime.reminders`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from loguru import logger
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from assistant.store.database import Database
from assistant.store.models import MAX_ID, Reminder, ReminderStatus
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

TEXT_MAX_CHARS = 500
WHEN_MAX_CHARS = 100
# A time this little in the past is "now" (the LLM rounding to the minute, a slow turn); it is
# stored as now so it is still delivered. Anything older is a mistake to report.
PAST_GRACE = timedelta(seconds=90)
# dateparser happily returns year 9999; nobody means that.
MAX_AHEAD = timedelta(days=5 * 366)
_MAX_ID = MAX_ID  # a bigger id can't exist: "not found"

REMINDERS_CHANGED = {"type": "reminders-changed"}

# dateparser reads a lone number as a day of the month ("at 9" → the 9th), and doesn't know
# "o'clock": make those hours explicit before handing the words over.
_BARE_HOUR = re.compile(
    r"\b(at|by|around)\s+(\d{1,2})\b(?![:.]\d)(?!\s*(?:[ap]\.?m\b|o'?\s*clock|h\b))", re.I
)
_OCLOCK = re.compile(r"\b(\d{1,2})\s*o'?\s*clock\b", re.I)


def as_utc(moment: datetime) -> datetime:
    # A naive clock value is taken as UTC (what ToolContext.now promises anyway).
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _parse_words(when: str, zone: ZoneInfo, now: datetime) -> datetime | None:
    # Imported on first use (the warm-up does it): 0.1 s that the server's start, which
    # imports this module for reminder delivery, doesn't need to pay.
    import dateparser
    from dateparser.timezone_parser import pop_tz_offset_from_string

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
    now = as_utc(now)
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
    days = (local.date() - as_utc(now).astimezone(zone).date()).days
    clock = f"{local.hour}:{local.minute:02d}"
    if days == 0:
        return f"today at {clock}"
    if days == 1:
        return f"tomorrow at {clock}"
    if days == -1:
        return f"yesterday at {clock}"
    year = "" if local.year == as_utc(now).astimezone(zone).year else f" {local.year}"
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
    async with db.transaction() as session:
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
    async with db.transaction() as session:
        reminders = await ReminderRepository(session, user_id).upcoming(limit)
    return ok(reminders=[_item(r, now) for r in reminders], count=len(reminders))


async def cancel_reminder(
    db: Database, user_id: int, reminder_id: int, *, now: datetime
) -> dict[str, Any]:
    missing = ToolError(f"no reminder with id {reminder_id}")
    if reminder_id > _MAX_ID:
        raise missing
    async with db.transaction() as session:
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
