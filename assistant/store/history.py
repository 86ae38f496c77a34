"""A user's whole history: paging through conversations and messages, empty conversations
removed, a conversation deleted, everything exported.

Like the repositories, bound to one ``user_id``: another user's ids behave as ids that don't
exist. Methods flush, never commit (callers use ``Database.transaction()``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Collection
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.store.models import (
    Conversation,
    Memory,
    Message,
    MessageKind,
    Note,
    Reminder,
    Role,
    User,
    utcnow,
)
from assistant.store.repository import ConversationListItem

# Rows read per query while exporting: memory stays flat however long the history is.
EXPORT_BATCH = 1000


def _has_messages(*kinds: MessageKind) -> Any:
    condition = exists().where(Message.conversation_id == Conversation.id)
    if kinds:
        condition = condition.where(Message.kind.in_(kinds))
    return condition


class HistoryRepository:
    def __init__(self, session: AsyncSession, user_id: int) -> None:
        self._session = session
        self._user_id = user_id

    async def conversations(
        self, limit: int = 50, before: str | None = None
    ) -> list[ConversationListItem] | None:
        """A page of the conversations anything was said in, most recently active first:
        after ``before`` (the id of the previous page's last one). Ties in ``updated_at`` are
        ordered by id, so a page boundary never skips or repeats one. None if ``before`` is not
        one of the user's conversations."""
        stmt = (
            select(*_LISTED)
            .where(Conversation.user_id == self._user_id, _has_messages(MessageKind.MESSAGE))
            .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
            .limit(limit)
        )
        if before is not None:
            cursor = (
                await self._session.execute(
                    select(Conversation.updated_at, Conversation.id).where(
                        Conversation.id == before, Conversation.user_id == self._user_id
                    )
                )
            ).one_or_none()
            if cursor is None:
                return None
            at, last_id = cursor
            stmt = stmt.where(
                Conversation.updated_at <= at,  # a range on the (user_id, updated_at) index
                or_(
                    Conversation.updated_at < at,
                    and_(Conversation.updated_at == at, Conversation.id < last_id),
                ),
            )
        return [ConversationListItem(*row) for row in await self._session.execute(stmt)]

    async def conversation(self, conversation_id: str) -> ConversationListItem | None:
        """One conversation as the list shows it, said-in or not."""
        stmt = select(*_LISTED).where(
            Conversation.id == conversation_id, Conversation.user_id == self._user_id
        )
        row = (await self._session.execute(stmt)).one_or_none()
        return ConversationListItem(*row) if row is not None else None

    async def messages(
        self,
        conversation_id: str,
        limit: int = 100,
        *,
        before: int | None = None,
        after: int | None = None,
    ) -> list[Message] | None:
        """A page of the transcript (summaries excluded), oldest first: the newest ``limit``
        messages before seq ``before`` (none: the newest of all), or with ``after``, the oldest
        ``limit`` after it. Reads ``limit`` rows of the (conversation_id, kind, seq) index
        whatever the conversation's length. None if the conversation is not the user's."""
        if before is not None and after is not None:
            raise ValueError("give before or after, not both")
        if not await self._owns(conversation_id):
            return None
        stmt = select(Message).where(
            Message.conversation_id == conversation_id, Message.kind == MessageKind.MESSAGE
        )
        if after is not None:
            stmt = stmt.where(Message.seq > after).order_by(Message.seq).limit(limit)
            return list(await self._session.scalars(stmt))
        if before is not None:
            stmt = stmt.where(Message.seq < before)
        newest = await self._session.scalars(stmt.order_by(Message.seq.desc()).limit(limit))
        return list(reversed(newest.all()))

    async def drop_empty(self, keep: Collection[str]) -> int:
        """Delete the user's conversations nothing was ever stored in, except those in
        ``keep`` (the ones a browser or a call is in). Returns how many went."""
        stmt = delete(Conversation).where(
            Conversation.user_id == self._user_id,
            ~_has_messages(),
            Conversation.id.not_in(list(keep)),
        )
        result = await self._session.execute(stmt.execution_options(synchronize_session=False))
        await self._session.flush()
        return result.rowcount

    async def delete(self, conversation_id: str) -> bool:
        """Delete a conversation with its messages and summaries (the database cascades).
        Notes stay; its reminders and token usage stay, pointing at no conversation."""
        result = await self._session.execute(
            delete(Conversation)
            .where(Conversation.id == conversation_id, Conversation.user_id == self._user_id)
            .execution_options(synchronize_session=False)
        )
        await self._session.flush()
        return bool(result.rowcount)

    async def export_conversation(self, conversation_id: str) -> dict[str, Any] | None:
        """One conversation with all its messages, as plain JSON-ready data."""
        conversation = await self._conversation(conversation_id)
        if conversation is None:
            return None
        messages = [m async for batch in self._message_batches(conversation.id) for m in batch]
        return {**_conversation_data(conversation), "messages": messages}

    async def export_markdown(self, conversation_id: str) -> str | None:
        """One conversation as Markdown: its title, then who said what, and the tool calls."""
        conversation = await self._conversation(conversation_id)
        if conversation is None:
            return None
        lines = [f"# {conversation.title or 'Untitled conversation'}", ""]
        lines.append(f"Started {conversation.created_at:%Y-%m-%d %H:%M} UTC.")
        async for batch in self._message_batches(conversation.id):
            for message in batch:
                lines.extend(_markdown(message))
        return "\n".join(lines) + "\n"

    async def export_all(self) -> AsyncIterator[str]:
        """Everything of the user as one JSON document, yielded in pieces: conversations with
        their messages, notes, reminders and memories. Read in
        batches, so a long history never sits in memory whole; run it in one transaction for
        a consistent snapshot."""
        user = await self._session.get(User, self._user_id)
        if user is None:
            return
        head = {"user": user.name, "timezone": user.timezone, "exported_at": _now()}
        yield json.dumps(head)[:-1] + ', "conversations": ['
        first = True
        last: tuple[datetime, str] | None = None
        while True:
            stmt = (
                select(Conversation)
                .where(Conversation.user_id == self._user_id)
                .order_by(Conversation.created_at, Conversation.id)
                .limit(EXPORT_BATCH)
            )
            if last is not None:
                stmt = stmt.where(
                    or_(
                        Conversation.created_at > last[0],
                        and_(Conversation.created_at == last[0], Conversation.id > last[1]),
                    )
                )
            batch = list(await self._session.scalars(stmt))
            if not batch:
                break
            for conversation in batch:
                yield ("" if first else ", ") + json.dumps(_conversation_data(conversation))[:-1]
                yield ', "messages": ['
                separator = ""
                async for messages in self._message_batches(conversation.id):
                    for message in messages:
                        yield separator + json.dumps(message)
                        separator = ", "
                yield "]}"
                first = False
            last = (batch[-1].created_at, batch[-1].id)
        yield "]"
        yield ', "notes": ' + json.dumps(await self._notes())
        yield ', "reminders": ' + json.dumps(await self._reminders())
        yield ', "memories": ' + json.dumps(await self._memories())
        yield "}"

    # ---- helpers

    async def _owns(self, conversation_id: str) -> bool:
        stmt = select(Conversation.id).where(
            Conversation.id == conversation_id, Conversation.user_id == self._user_id
        )
        return await self._session.scalar(stmt) is not None

    async def _conversation(self, conversation_id: str) -> Conversation | None:
        stmt = select(Conversation).where(
            Conversation.id == conversation_id, Conversation.user_id == self._user_id
        )
        return await self._session.scalar(stmt)

    async def _message_batches(self, conversation_id: str) -> AsyncIterator[list[dict[str, Any]]]:
        after = 0
        while True:
            stmt = (
                select(Message)
                .where(Message.conversation_id == conversation_id, Message.seq > after)
                .order_by(Message.seq)
                .limit(EXPORT_BATCH)
            )
            batch = list(await self._session.scalars(stmt))
            if not batch:
                return
            after = batch[-1].seq
            yield [_message_data(m) for m in batch]
            # Rows already yielded need not stay in the session's identity map.
            for message in batch:
                self._session.expunge(message)

    async def _notes(self) -> list[dict[str, Any]]:
        stmt = select(Note).where(Note.user_id == self._user_id).order_by(Note.id)
        return [
            {
                "id": n.id,
                "content": n.content,
                "created_at": _iso(n.created_at),
                "updated_at": _iso(n.updated_at),
            }
            for n in await self._session.scalars(stmt)
        ]

    async def _reminders(self) -> list[dict[str, Any]]:
        stmt = select(Reminder).where(Reminder.user_id == self._user_id).order_by(Reminder.id)
        return [
            {
                "id": r.id,
                "text": r.text,
                "due_at": _iso(r.due_at),
                "timezone": r.timezone,
                "status": str(r.status),
                "conversation_id": r.conversation_id,
                "created_at": _iso(r.created_at),
                "delivered_at": _iso(r.delivered_at),
            }
            for r in await self._session.scalars(stmt)
        ]

    async def _memories(self) -> list[dict[str, Any]]:
        """Every fact stored about the user, superseded ones (their history) too."""
        stmt = select(Memory).where(Memory.user_id == self._user_id).order_by(Memory.id)
        return [
            {
                "id": m.id,
                "text": m.text,
                "subject": m.subject,
                "pinned": m.pinned,
                "inferred": m.inferred,
                "source_conversation_id": m.source_conversation_id,
                "created_at": _iso(m.created_at),
                "updated_at": _iso(m.updated_at),
                "superseded_at": _iso(m.superseded_at),
                "superseded_by_id": m.superseded_by_id,
                "use_count": m.use_count,
                "last_used_at": _iso(m.last_used_at),
            }
            for m in await self._session.scalars(stmt)
        ]


def _message_count() -> Any:
    # Correlated: counted only for the conversations of the page, on the (conversation_id,
    # kind, seq) index.
    return (
        select(func.count())
        .where(Message.conversation_id == Conversation.id, Message.kind == MessageKind.MESSAGE)
        .correlate(Conversation)
        .scalar_subquery()
    )


_LISTED = (
    Conversation.id,
    Conversation.title,
    Conversation.created_at,
    Conversation.updated_at,
    _message_count(),
)


def _now() -> str:
    return utcnow().isoformat()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _conversation_data(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "title": conversation.title,
        "created_at": _iso(conversation.created_at),
        "updated_at": _iso(conversation.updated_at),
        "voice": {
            "emotion": conversation.emotion,
            "speed": conversation.speed,
            "volume": conversation.volume,
        },
    }


def _message_data(message: Message) -> dict[str, Any]:
    data: dict[str, Any] = {
        "seq": message.seq,
        "kind": str(message.kind),
        "role": str(message.role),
        "content": message.content,
        "created_at": _iso(message.created_at),
    }
    if message.tool_calls:
        data["tool_calls"] = message.tool_calls
    if message.tool_call_id:
        data["tool_call_id"] = message.tool_call_id
    if message.interrupted:
        data["interrupted"] = True
    if message.summary_until_seq is not None:
        data["summary_until_seq"] = message.summary_until_seq
    return data


_SPEAKERS = {Role.USER.value: "You", Role.ASSISTANT.value: "Assistant"}


def _markdown(message: dict[str, Any]) -> list[str]:
    when = message["created_at"][:16].replace("T", " ")
    if message["kind"] == MessageKind.SUMMARY.value:
        return ["", f"> *Summary of what came before (at {when}):* {message['content']}"]
    lines = []
    speaker = _SPEAKERS.get(message["role"])
    text = (message["content"] or "").strip()
    if speaker and text:
        cut = " *(interrupted)*" if message.get("interrupted") else ""
        lines += ["", f"**{speaker}** ({when}): {text}{cut}"]
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        lines += ["", f"*used `{function.get('name')}` {function.get('arguments', '')}*"]
    return lines
