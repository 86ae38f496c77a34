"""ORM models for the assistant's memory.

The schema itself is owned by the alembic migrations in ``migrations/``; these models must
stay in sync with them (``tests/store/test_migrations.py`` checks that autogenerate finds no
difference).
"""

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Named constraints so batch migrations on SQLite can drop/alter them later.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

DEFAULT_TIMEZONE = "UTC"
# The largest id an Integer primary key holds on both databases (PostgreSQL's integer is 32-bit,
# SQLite's 64): a bigger one cannot exist.
MAX_ID = 2**31 - 1
TITLE_MAX_CHARS = 60


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_conversation_id() -> str:
    # uuid4 hex: unguessable and URL-safe without escaping.
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out.

    SQLite has no timezone support and SQLAlchemy silently drops ``tzinfo`` on bind, so we
    normalise to UTC ourselves and refuse naive values instead of guessing their zone.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Role(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"
    SYSTEM = "system"


class MessageKind(StrEnum):
    MESSAGE = "message"
    SUMMARY = "summary"


class ReminderStatus(StrEnum):
    PENDING = "pending"
    # Claimed by a live session that is saying it; delivered once heard, pending again if the
    # session ends first. The claim is a lease (``claimed_until``): one whose session died
    # without letting go can be claimed again once it runs out.
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


def _str_enum(enum: type[StrEnum], name: str) -> Enum:
    # VARCHAR + CHECK rather than a native enum: portable, and loads back as the StrEnum.
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # The login name the browser sends; the only identity we have.
    name: Mapped[str] = mapped_column(String(100), unique=True)
    timezone: Mapped[str] = mapped_column(
        String(64), default=DEFAULT_TIMEZONE, server_default=sql_text(f"'{DEFAULT_TIMEZONE}'")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    # argon2id (PHC string) once `assistant user add/passwd` set one; NULL cannot sign in.
    password_hash: Mapped[str | None] = mapped_column(String(255))


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_user_id_updated_at", "user_id", "updated_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_conversation_id)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    # Bumped on every message: "last activity" for listings.
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=func.now()
    )
    # Voice state survives reconnects, so it lives with the conversation.
    emotion: Mapped[str] = mapped_column(
        String(32), default="neutral", server_default=sql_text("'neutral'")
    )
    speed: Mapped[float] = mapped_column(Float, default=1.0, server_default=sql_text("1.0"))
    volume: Mapped[float] = mapped_column(Float, default=1.0, server_default=sql_text("1.0"))


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        # Makes seq assignment safe and lets resume walk newest-first in O(window).
        UniqueConstraint("conversation_id", "seq"),
        # Finds the latest summary / counts visible messages without scanning history.
        Index("ix_messages_conversation_id_kind_seq", "conversation_id", "kind", "seq"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[MessageKind] = mapped_column(
        _str_enum(MessageKind, "message_kind"),
        default=MessageKind.MESSAGE,
        server_default=sql_text("'message'"),
    )
    role: Mapped[Role] = mapped_column(_str_enum(Role, "message_role"))
    content: Mapped[str | None] = mapped_column(Text)
    # OpenAI-format tool calls. none_as_null: Python None must be SQL NULL, not JSON 'null'.
    tool_calls: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON(none_as_null=True))
    tool_call_id: Mapped[str | None] = mapped_column(String(100))
    # The user barged in while this assistant message was being spoken.
    interrupted: Mapped[bool] = mapped_column(default=False, server_default=false())
    # For kind == "summary": the last seq the summary covers.
    summary_until_seq: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class Note(Base):
    """A free-text note. Full-text indexed by the ``notes_fts`` FTS5 table (migration-only)."""

    __tablename__ = "notes"
    __table_args__ = (Index("ix_notes_user_id_updated_at", "user_id", "updated_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=func.now()
    )


class Reminder(Base):
    __tablename__ = "reminders"
    __table_args__ = (Index("ix_reminders_user_id_status_due_at", "user_id", "status", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # Where it was set; the reminder outlives the conversation.
    conversation_id: Mapped[str | None] = mapped_column(
        # Indexed so deleting a conversation doesn't scan reminders for the SET NULL.
        ForeignKey("conversations.id", ondelete="SET NULL"),
        index=True,
    )
    text: Mapped[str] = mapped_column(Text)
    due_at: Mapped[datetime]
    # The user's IANA zone when it was set, to speak the time back in local terms.
    timezone: Mapped[str] = mapped_column(String(64))
    status: Mapped[ReminderStatus] = mapped_column(
        _str_enum(ReminderStatus, "reminder_status"),
        default=ReminderStatus.PENDING,
        server_default=sql_text("'pending'"),
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    delivered_at: Mapped[datetime | None]
    # While DELIVERING: which session's claim (its token) and until when it holds.
    claimed_by: Mapped[str | None] = mapped_column(String(32))
    claimed_until: Mapped[datetime | None]


class LLMUsage(Base):
    """The tokens one language-model request took, as the provider reported them.

    One row per request, replies and summaries alike: what a free key's limits count. Kept when
    its conversation is deleted (the conversation becomes NULL), so the day's sum stays true.
    """

    __tablename__ = "llm_usage"
    __table_args__ = (Index("ix_llm_usage_user_id_created_at", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    conversation_id: Mapped[str | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"), index=True
    )
    # "reply" (a turn of the conversation) or "summary" (condensing old history).
    purpose: Mapped[str] = mapped_column(String(16))
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    completion_tokens: Mapped[int] = mapped_column(Integer)
    # Prompt tokens the provider served from its prefix cache, when it says.
    cached_tokens: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class Memory(Base):
    """A fact about the user, in their words (``assistant/store/memories.py``).

    A newer fact on the same ``subject`` supersedes the old one: the old row stays as history
    (``superseded_at`` set) and is never current again. Facts outlive the conversation they
    came from (its id becomes NULL).
    """

    __tablename__ = "memories"
    __table_args__ = (
        # The current facts of a subject: what remember() compares a new fact with.
        Index("ix_memories_user_id_subject", "user_id", "subject"),
        # The block's order (pinned, most used, most recently used, most recently changed),
        # read straight off the index for the current facts: no sort of every fact.
        Index(
            "ix_memories_block",
            "user_id",
            "superseded_at",
            "pinned",
            "use_count",
            "last_used_at",
            "updated_at",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    # The normalised key a newer fact on the same subject supersedes (memories.subject_of).
    subject: Mapped[str] = mapped_column(String(200))
    pinned: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Proposed by the automatic pass rather than asked for by the user.
    inferred: Mapped[bool] = mapped_column(default=False, server_default=false())
    source_conversation_id: Mapped[str | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"), index=True
    )
    source_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=func.now()
    )
    superseded_at: Mapped[datetime | None]
    superseded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("memories.id", ondelete="SET NULL"), index=True
    )
    use_count: Mapped[int] = mapped_column(Integer, default=0, server_default=sql_text("0"))
    last_used_at: Mapped[datetime | None]


class WebSessionRow(Base):
    """A browser's session: who signed in there and which conversation it continues.

    Only the SHA-256 of the cookie's token is stored, so a copy of the database signs no one in.
    In the database rather than in memory, so a restart keeps people signed in and several
    server processes share them.
    """

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # NULL until the page picks one (right after sign-in), or once it is deleted.
    conversation_id: Mapped[str | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    # Sessions unused for SESSION_DAYS end; indexed for the purge of those.
    last_used_at: Mapped[datetime] = mapped_column(
        default=utcnow, server_default=func.now(), index=True
    )
