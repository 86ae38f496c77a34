"""Repositories: the only way the rest of the app reads or writes the store.

Every repository except ``UserRepository`` is bound to one ``user_id`` at construction, and
every statement it issues filters on it, so another user's conversation/note/reminder id
behaves exactly like an id that doesn't exist (``None`` / ``False`` / ``[]``, or
``NotFoundError`` where the method has nothing sensible to return).

Repositories never commit: the caller's unit of work does, once, at its boundary (a request,
a tool call, a recorder write, a claim; see `Database.transaction`), so a failure halfway
leaves nothing half-written. Writes are flushed, so ids and constraint errors come at once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Select, column, delete, func, insert, literal_column, or_, select, table
from sqlalchemy import update as sql_update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from assistant.store import dialects
from assistant.store.models import (
    TITLE_MAX_CHARS,
    Conversation,
    LLMUsage,
    Message,
    MessageKind,
    Note,
    Reminder,
    ReminderStatus,
    Role,
    User,
    utcnow,
)


class NotFoundError(LookupError):
    """The row doesn't exist or belongs to another user (deliberately indistinguishable)."""


def validate_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA timezone {name!r}") from exc
    return name


def _require_aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {value!r}")
    return value


def _require_text(value: str, what: str) -> str:
    if not value or not value.strip():
        raise ValueError(f"{what} must not be empty")
    return value


def make_title(content: str, max_chars: int = TITLE_MAX_CHARS) -> str:
    """First ``max_chars`` of ``content`` on one line, cut at a word boundary when possible."""
    flat = " ".join(content.split())
    if len(flat) <= max_chars:
        return flat
    cut = flat[: max_chars - 1]
    if " " in cut[max_chars // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:-") + "…"


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, user_id: int) -> User | None:
        return await self._session.get(User, user_id, populate_existing=True)

    async def get_by_name(self, name: str) -> User | None:
        stmt = select(User).where(User.name == name).execution_options(populate_existing=True)
        return await self._session.scalar(stmt)

    async def get_or_create(self, name: str, timezone: str | None = None) -> User:
        """The user with this login name, created on first sight; updates the timezone if given."""
        name = _require_text(name, "user name").strip()
        if timezone is not None:
            validate_timezone(timezone)
        user = await self.get_by_name(name)
        if user is None:
            # Two tabs logging in at once: whichever inserts second finds the other's row.
            values = {"name": name} if timezone is None else {"name": name, "timezone": timezone}
            await self._session.execute(
                dialects.insert_ignoring_conflict(self._session, User, values, ["name"])
            )
            user = await self.get_by_name(name)
            if user is None:
                raise LookupError(f"user {name!r} vanished as it was created")
        if timezone is not None and user.timezone != timezone:
            user.timezone = timezone
            await self._session.flush()
        return user

    async def delete(self, user_id: int) -> bool:
        """Forget a user entirely; the database cascades to all their rows."""
        result = await self._session.execute(delete(User).where(User.id == user_id))
        await self._session.flush()
        return bool(result.rowcount)


class _UserScoped:
    def __init__(self, session: AsyncSession, user_id: int) -> None:
        self._session = session
        self._user_id = user_id


@dataclass(frozen=True, slots=True)
class ConversationListItem:
    id: str
    title: str | None
    created_at: datetime
    updated_at: datetime
    message_count: int

    @property
    def last_activity(self) -> datetime:
        return self.updated_at


class ConversationRepository(_UserScoped):
    async def create(self, title: str | None = None) -> Conversation:
        conversation = Conversation(user_id=self._user_id, title=title)
        self._session.add(conversation)
        await self._session.flush()
        return conversation

    async def get(self, conversation_id: str) -> Conversation | None:
        stmt = (
            select(Conversation)
            .where(Conversation.id == conversation_id, Conversation.user_id == self._user_id)
            .execution_options(populate_existing=True)
        )
        return await self._session.scalar(stmt)

    async def list(self, limit: int = 50) -> list[ConversationListItem]:
        """Most recently active first, with message counts, in one query."""
        # Correlated subquery rather than JOIN + GROUP BY: SQLite walks the (user_id,
        # updated_at) index and only counts the conversations it actually returns.
        message_count = (
            select(func.count())
            .where(Message.conversation_id == Conversation.id, Message.kind == MessageKind.MESSAGE)
            .correlate(Conversation)
            .scalar_subquery()
        )
        stmt = (
            select(
                Conversation.id,
                Conversation.title,
                Conversation.created_at,
                Conversation.updated_at,
                message_count,
            )
            .where(Conversation.user_id == self._user_id)
            .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
            .limit(limit)
        )
        rows = await self._session.execute(stmt)
        return [ConversationListItem(*row) for row in rows]

    async def rename(self, conversation_id: str, title: str | None) -> Conversation | None:
        conversation = await self.get(conversation_id)
        if conversation is None:
            return None
        conversation.title = title
        await self._session.flush()
        return conversation

    async def set_voice(
        self,
        conversation_id: str,
        emotion: str | None = None,
        speed: float | None = None,
        volume: float | None = None,
    ) -> Conversation | None:
        """Update the voice state; ``None`` leaves a field unchanged."""
        for what, value in (("speed", speed), ("volume", volume)):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{what} must be a positive number, got {value!r}")
        if emotion is not None:
            _require_text(emotion, "emotion")
        conversation = await self.get(conversation_id)
        if conversation is None:
            return None
        if emotion is not None:
            conversation.emotion = emotion
        if speed is not None:
            conversation.speed = speed
        if volume is not None:
            conversation.volume = volume
        await self._session.flush()
        return conversation

    async def delete(self, conversation_id: str) -> bool:
        result = await self._session.execute(
            delete(Conversation).where(
                Conversation.id == conversation_id, Conversation.user_id == self._user_id
            )
        )
        await self._session.flush()
        return bool(result.rowcount)

    async def append(
        self,
        conversation_id: str,
        role: Role | str,
        content: str | None = None,
        tool_calls: list[dict[str, Any]] | None = None,
        tool_call_id: str | None = None,
        interrupted: bool = False,
    ) -> Message:
        """Store one message with the next seq. Raises ``NotFoundError``.

        Two statements (UPDATE, INSERT; the caller commits) and no SELECT: the voice pipeline
        calls this
        for every message, on the event loop that also streams the bot's audio.
        """
        role = Role(role)
        if content is not None:
            # What was said or answered, never refused: PostgreSQL's text cannot hold NUL, which
            # means nothing in speech.
            content = content.replace("\x00", "")
        now = utcnow()
        values: dict[str, Any] = {"updated_at": now}
        if role is Role.USER and content and content.strip():
            # In SQL so the first committed user message wins even under concurrent appends.
            values["title"] = func.coalesce(Conversation.title, make_title(content))
        # The UPDATE goes first and is scoped by user, so it is also the existence check (no
        # row back: missing or someone else's), and it takes SQLite's write lock before the
        # INSERT reads max(seq).
        touch = (
            sql_update(Conversation)
            .where(Conversation.id == conversation_id, Conversation.user_id == self._user_id)
            .values(values)
            .returning(Conversation.title, Conversation.updated_at)
            .execution_options(synchronize_session=False)
        )
        touched = (await self._session.execute(touch)).one_or_none()
        if touched is None:  # the unit of work rolls back, releasing the UPDATE's write lock
            raise NotFoundError(f"conversation {conversation_id!r} not found")
        message = await self._insert(
            conversation_id,
            created_at=now,
            kind=MessageKind.MESSAGE,
            role=role,
            content=content,
            tool_calls=tool_calls or None,
            tool_call_id=tool_call_id,
            interrupted=interrupted,
        )
        await self._session.flush()
        # Keep a Conversation object the caller holds in this session truthful, without a SELECT.
        held = self._session.identity_map.get(
            self._session.identity_key(Conversation, conversation_id)
        )
        if held is not None:
            set_committed_value(held, "title", touched.title)
            set_committed_value(held, "updated_at", touched.updated_at)
        return message

    async def append_summary(self, conversation_id: str, content: str, until_seq: int) -> Message:
        """Store a summary of messages ``seq <= until_seq``. Resume starts from the latest one.

        It gets a seq of its own (so it's ordered with everything else) but doesn't count as
        activity: ``updated_at`` and the title are left alone.
        """
        _require_text(content, "summary")
        # Locked (PostgreSQL; SQLite's write lock does it) so that an append committing
        # meanwhile cannot take the seq this one computes, as append's UPDATE does.
        locked = await self._session.scalar(
            select(Conversation.id)
            .where(Conversation.id == conversation_id, Conversation.user_id == self._user_id)
            .with_for_update()
        )
        if locked is None:
            raise NotFoundError(f"conversation {conversation_id!r} not found")
        last = await self.last_seq(conversation_id)
        if not 0 <= until_seq <= last:
            raise ValueError(f"until_seq must be within 0..{last}, got {until_seq}")
        message = await self._insert(
            conversation_id,
            kind=MessageKind.SUMMARY,
            role=Role.SYSTEM,
            content=content,
            summary_until_seq=until_seq,
        )
        await self._session.flush()
        return message

    async def last_seq(self, conversation_id: str) -> int:
        """Highest seq in the conversation (0 if empty or not found)."""
        stmt = (
            select(func.coalesce(func.max(Message.seq), 0))
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Message.conversation_id == conversation_id)
            .where(Conversation.user_id == self._user_id)
        )
        return int(await self._session.scalar(stmt) or 0)

    async def messages(
        self, conversation_id: str, after_seq: int | None = None, limit: int = 200
    ) -> list[Message]:
        """Chronological transcript page (summaries excluded): ``seq > after_seq``."""
        stmt = (
            self._scoped_messages(conversation_id)
            .where(Message.kind == MessageKind.MESSAGE, Message.seq > (after_seq or 0))
            .order_by(Message.seq)
            .limit(limit)
        )
        return list(await self._session.scalars(stmt))

    def _scoped_messages(self, conversation_id: str) -> Select[tuple[Message]]:
        return (
            select(Message)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Message.conversation_id == conversation_id)
            .where(Conversation.user_id == self._user_id)
        )

    async def require(self, conversation_id: str) -> Conversation:
        """Like ``get`` but raises ``NotFoundError``."""
        conversation = await self.get(conversation_id)
        if conversation is None:
            raise NotFoundError(f"conversation {conversation_id!r} not found")
        return conversation

    async def _insert(
        self, conversation_id: str, created_at: datetime | None = None, **values: Any
    ) -> Message:
        # seq = max + 1 computed inside the INSERT: SQLite takes the write lock before the
        # statement reads, so concurrent appends serialize instead of colliding on the
        # UNIQUE(conversation_id, seq) index. max() on that index is a single seek.
        next_seq = (
            select(func.coalesce(func.max(Message.seq), 0) + 1)
            .where(Message.conversation_id == conversation_id)
            .scalar_subquery()
        )
        stmt = (
            insert(Message)
            .values(
                conversation_id=conversation_id,
                seq=next_seq,
                created_at=created_at or utcnow(),
                **values,
            )
            .returning(Message)
        )
        message = await self._session.scalar(stmt)
        assert message is not None
        return message


# The FTS5 table is created by the migration, not mapped; a lightweight handle is enough.
_notes_fts = table("notes_fts", column("rowid"), column("rank"))


def fts_query(text: str) -> str | None:
    """Turn free text into a safe FTS5 query: each word a quoted term, OR-ed together.

    Quoting neutralises FTS5 syntax (``AND``, ``NEAR``, ``"``, ``*``, ``col:``) in what the
    user or the LLM typed; OR + bm25 ranking means notes matching more words come first
    instead of notes missing a word being dropped.
    """
    words = dialects.search_words(text)
    if not words:
        return None
    return " OR ".join('"' + word.replace('"', '""') + '"' for word in words)


class NoteRepository(_UserScoped):
    async def add(self, content: str) -> Note:
        note = Note(user_id=self._user_id, content=_require_text(content, "note"))
        self._session.add(note)
        await self._session.flush()
        return note

    async def get(self, note_id: int) -> Note | None:
        stmt = (
            select(Note)
            .where(Note.id == note_id, Note.user_id == self._user_id)
            .execution_options(populate_existing=True)
        )
        return await self._session.scalar(stmt)

    async def recent(self, limit: int = 10) -> list[Note]:
        stmt = (
            select(Note)
            .where(Note.user_id == self._user_id)
            .order_by(Note.updated_at.desc(), Note.id.desc())
            .limit(limit)
        )
        return list(await self._session.scalars(stmt))

    async def search(self, query: str, limit: int = 10) -> list[Note]:
        """Best matches first. Never raises on odd input; falls back to LIKE if FTS can't."""
        if dialects.is_postgresql(self._session):
            return await self._search_postgresql(query, limit)
        match = fts_query(query)
        if match is not None:
            stmt = (
                select(Note)
                .join(_notes_fts, _notes_fts.c.rowid == Note.id)
                .where(literal_column("notes_fts").op("MATCH")(match))
                .where(Note.user_id == self._user_id)
                .order_by(_notes_fts.c.rank, Note.updated_at.desc())
                .limit(limit)
            )
            try:
                return list(await self._session.scalars(stmt))
            except OperationalError:
                pass  # e.g. FTS5 unavailable in this SQLite build: degrade, don't fail.
        # PostgreSQL text cannot hold NUL.
        terms = dialects.search_words(query) or [query.replace("\x00", "").strip()]
        terms = [t for t in terms if t]
        if not terms:
            return []
        stmt = (
            select(Note)
            .where(Note.user_id == self._user_id)
            .where(dialects.like_any(Note.content, terms))
            .order_by(Note.updated_at.desc(), Note.id.desc())
            .limit(limit)
        )
        return list(await self._session.scalars(stmt))

    async def _search_postgresql(self, query: str, limit: int) -> list[Note]:
        words = dialects.search_words(query)
        if not words:
            return []
        matches, rank = dialects.ts_matches(Note.content, words)
        stmt = (
            select(Note)
            .where(Note.user_id == self._user_id, matches)
            .order_by(rank.desc(), Note.updated_at.desc(), Note.id.desc())
            .limit(limit)
        )
        return list(await self._session.scalars(stmt))

    async def update(self, note_id: int, content: str) -> Note | None:
        _require_text(content, "note")
        return await self._update(note_id, content=content)

    async def append(self, note_id: int, text: str) -> Note | None:
        """Add a line to a note. Concatenated in SQL so concurrent appends don't lose one."""
        _require_text(text, "text")
        return await self._update(note_id, content=Note.content + "\n" + text)

    async def delete(self, note_id: int) -> bool:
        result = await self._session.execute(
            delete(Note).where(Note.id == note_id, Note.user_id == self._user_id)
        )
        await self._session.flush()
        return bool(result.rowcount)

    async def _update(self, note_id: int, **values: Any) -> Note | None:
        stmt = (
            sql_update(Note)
            .where(Note.id == note_id, Note.user_id == self._user_id)
            .values(updated_at=utcnow(), **values)
            .returning(Note)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        note = await self._session.scalar(stmt)
        await self._session.flush()
        return note


class ReminderRepository(_UserScoped):
    async def add(
        self,
        text: str,
        due_at_utc: datetime,
        timezone: str,
        conversation_id: str | None = None,
    ) -> Reminder:
        """Raises ``ValueError`` on bad input, ``NotFoundError`` for a foreign conversation."""
        _require_text(text, "reminder text")
        _require_aware(due_at_utc, "due_at_utc")
        validate_timezone(timezone)
        if conversation_id is not None:
            await ConversationRepository(self._session, self._user_id).require(conversation_id)
        reminder = Reminder(
            user_id=self._user_id,
            conversation_id=conversation_id,
            text=text,
            due_at=due_at_utc,
            timezone=timezone,
        )
        self._session.add(reminder)
        await self._session.flush()
        return reminder

    async def get(self, reminder_id: int) -> Reminder | None:
        stmt = (
            select(Reminder)
            .where(Reminder.id == reminder_id, Reminder.user_id == self._user_id)
            .execution_options(populate_existing=True)
        )
        return await self._session.scalar(stmt)

    async def upcoming(self, limit: int = 20) -> list[Reminder]:
        """Pending reminders, soonest first (overdue-but-undelivered ones included)."""
        return await self._pending(limit)

    async def due(self, now_utc: datetime, limit: int = 100) -> list[Reminder]:
        """Reminders to say at ``now_utc``, oldest first: pending ones whose time has come, and
        claims whose lease ran out by then (their session died while saying them)."""
        now_utc = _require_aware(now_utc, "now_utc")
        stmt = (
            select(Reminder)
            .where(
                Reminder.user_id == self._user_id,
                Reminder.due_at <= now_utc,
                _claimable(now_utc),
            )
            .order_by(Reminder.due_at, Reminder.id)
            .limit(limit)
            .execution_options(populate_existing=True)
        )
        return list(await self._session.scalars(stmt))

    async def cancel(self, reminder_id: int) -> bool:
        """True if a pending reminder was cancelled; delivered/cancelled ones are left alone."""
        return await self._transition(
            reminder_id, Reminder.status == ReminderStatus.PENDING, status=ReminderStatus.CANCELLED
        )

    async def update(
        self, reminder_id: int, *, text: str | None = None, due_at_utc: datetime | None = None
    ) -> Reminder | None:
        """Change a pending reminder's words or time (``None`` leaves one as it is); None if
        there is no pending reminder of that id (delivered, cancelled, being said, or none)."""
        values: dict[str, Any] = {}
        if text is not None:
            values["text"] = _require_text(text, "reminder text")
        if due_at_utc is not None:
            values["due_at"] = _require_aware(due_at_utc, "due_at_utc")
        if not values:
            reminder = await self.get(reminder_id)
            return reminder if reminder and reminder.status == ReminderStatus.PENDING else None
        stmt = (
            sql_update(Reminder)
            .where(
                Reminder.id == reminder_id,
                Reminder.user_id == self._user_id,
                Reminder.status == ReminderStatus.PENDING,
            )
            .values(**values)
            .returning(Reminder)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        reminder = await self._session.scalar(stmt)
        await self._session.flush()
        return reminder

    async def delete(self, reminder_id: int) -> bool:
        """Forget a reminder, whatever its state (one being said is said to its end)."""
        result = await self._session.execute(
            delete(Reminder).where(Reminder.id == reminder_id, Reminder.user_id == self._user_id)
        )
        await self._session.flush()
        return bool(result.rowcount)

    async def claim(
        self, reminder_id: int, claimed_by: str, now: datetime, until: datetime
    ) -> bool:
        """Claim a reminder for saying it, from ``now`` until ``until`` (the lease): a pending
        one, or a claim whose lease ran out by ``now``. Only one caller ever gets True, so of
        two live sessions of a user only one says it."""
        _require_text(claimed_by, "claimed_by")
        now = _require_aware(now, "now")
        return await self._transition(
            reminder_id,
            _claimable(now),
            status=ReminderStatus.DELIVERING,
            claimed_by=claimed_by,
            claimed_until=_require_aware(until, "until"),
        )

    async def mark_delivered(
        self, reminder_id: int, when: datetime | None = None, *, claimed_by: str | None = None
    ) -> bool:
        """Mark a reminder delivered: the one ``claimed_by`` claimed (it was heard), or without
        a claim a pending one. Only one caller ever gets True."""
        when = _require_aware(when, "when") if when is not None else utcnow()
        held = (
            Reminder.status == ReminderStatus.PENDING
            if claimed_by is None
            else (Reminder.status == ReminderStatus.DELIVERING)
            & (Reminder.claimed_by == claimed_by)
        )
        return await self._transition(
            reminder_id,
            held,
            status=ReminderStatus.DELIVERED,
            delivered_at=when,
            claimed_by=None,
            claimed_until=None,
        )

    async def release(self, claimed_by: str, reminder_ids: Iterable[int]) -> int:
        """Give back claims that were never heard: pending again, due for whoever claims next.
        Returns how many were still held."""
        ids = list(reminder_ids)
        if not ids:
            return 0
        stmt = (
            sql_update(Reminder)
            .where(
                Reminder.user_id == self._user_id,
                Reminder.id.in_(ids),
                Reminder.status == ReminderStatus.DELIVERING,
                Reminder.claimed_by == claimed_by,
            )
            .values(status=ReminderStatus.PENDING, claimed_by=None, claimed_until=None)
            .execution_options(synchronize_session=False)
        )
        result = await self._session.execute(stmt)
        await self._session.flush()
        return result.rowcount

    async def _pending(self, limit: int, *where: Any) -> list[Reminder]:
        stmt = (
            select(Reminder)
            .where(Reminder.user_id == self._user_id, Reminder.status == ReminderStatus.PENDING)
            .where(*where)
            .order_by(Reminder.due_at, Reminder.id)
            .limit(limit)
            .execution_options(populate_existing=True)
        )
        return list(await self._session.scalars(stmt))

    async def _transition(self, reminder_id: int, current: Any, **values: Any) -> bool:
        stmt = (
            sql_update(Reminder)
            .where(Reminder.id == reminder_id, Reminder.user_id == self._user_id, current)
            .values(**values)
            .returning(Reminder)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        changed = await self._session.scalar(stmt)
        await self._session.flush()
        return changed is not None


def _claimable(now: datetime) -> Any:
    """Free to claim at ``now``: pending, or a claim whose lease has run out."""
    return or_(
        Reminder.status == ReminderStatus.PENDING,
        (Reminder.status == ReminderStatus.DELIVERING) & (Reminder.claimed_until <= now),
    )


@dataclass(frozen=True, slots=True)
class UsageTotals:
    """Tokens summed over some language-model requests."""

    requests: int
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class DayUsage(UsageTotals):
    day: date = date.min  # UTC


class UsageRepository(_UserScoped):
    """Token usage of the user's language-model requests (see ``LLMUsage``)."""

    async def add(
        self,
        conversation_id: str | None,
        prompt_tokens: int,
        completion_tokens: int,
        *,
        cached_tokens: int | None = None,
        purpose: str = "reply",
        at: datetime | None = None,
    ) -> LLMUsage:
        """Record one request. A conversation that is gone (or not the user's) is recorded as
        none: the tokens were spent all the same."""
        for what, value in (
            ("prompt_tokens", prompt_tokens),
            ("completion_tokens", completion_tokens),
        ):
            if value < 0:
                raise ValueError(f"{what} must not be negative, got {value}")
        if conversation_id is not None:
            owned = await ConversationRepository(self._session, self._user_id).get(conversation_id)
            conversation_id = owned.id if owned is not None else None
        usage = LLMUsage(
            user_id=self._user_id,
            conversation_id=conversation_id,
            purpose=purpose,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cached_tokens=cached_tokens,
            created_at=_require_aware(at, "at") if at is not None else utcnow(),
        )
        self._session.add(usage)
        await self._session.flush()
        return usage

    async def conversation_total(self, conversation_id: str) -> UsageTotals | None:
        """The conversation's sum; None if it doesn't exist or isn't the user's."""
        if await ConversationRepository(self._session, self._user_id).get(conversation_id) is None:
            return None
        stmt = select(*_SUMS).where(
            LLMUsage.user_id == self._user_id, LLMUsage.conversation_id == conversation_id
        )
        return UsageTotals(*(await self._session.execute(stmt)).one())

    async def by_day(self, since: datetime) -> list[DayUsage]:
        """The user's sums per UTC day, from ``since`` on, oldest day first."""
        # The UTC day: PostgreSQL's date() of a timestamptz would take the session's zone.
        day = (
            func.date(func.timezone("UTC", LLMUsage.created_at))
            if dialects.is_postgresql(self._session)
            else func.date(LLMUsage.created_at)
        )
        stmt = (
            select(day, *_SUMS)
            .where(LLMUsage.user_id == self._user_id)
            .where(LLMUsage.created_at >= _require_aware(since, "since"))
            .group_by(day)
            .order_by(day)
        )
        return [
            # SQLite returns the day as text, PostgreSQL as a date.
            DayUsage(
                requests,
                prompt,
                completion,
                day=value if isinstance(value, date) else date.fromisoformat(value),
            )
            for value, requests, prompt, completion in await self._session.execute(stmt)
        ]


_SUMS = (
    func.count(LLMUsage.id),
    func.coalesce(func.sum(LLMUsage.prompt_tokens), 0),
    func.coalesce(func.sum(LLMUsage.completion_tokens), 0),
)
