"""Initial schema: users, conversations, messages, notes (+ full-text search), reminders.

Revision ID: 0001_initial
Revises:
Create Date: 2025-01-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _created_at() -> sa.Column:
    return sa.Column(
        "created_at",
        sa.DateTime(timezone=True),
        server_default=sa.text("(CURRENT_TIMESTAMP)"),
        nullable=False,
    )


def _updated_at() -> sa.Column:
    return sa.Column(
        "updated_at",
        sa.DateTime(timezone=True),
        server_default=sa.text("(CURRENT_TIMESTAMP)"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("timezone", sa.String(length=64), server_default="UTC", nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("name", name="uq_users_name"),
    )

    op.create_table(
        "conversations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=True),
        _created_at(),
        _updated_at(),
        sa.Column("emotion", sa.String(length=32), server_default="neutral", nullable=False),
        sa.Column("speed", sa.Float(), server_default=sa.text("1.0"), nullable=False),
        sa.Column("volume", sa.Float(), server_default=sa.text("1.0"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_conversations_user_id_users",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_conversations"),
    )
    op.create_index(
        "ix_conversations_user_id_updated_at", "conversations", ["user_id", "updated_at"]
    )

    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "message",
                "summary",
                name="message_kind",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            server_default="message",
            nullable=False,
        ),
        sa.Column(
            "role",
            sa.Enum(
                "user",
                "assistant",
                "tool",
                "system",
                name="message_role",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("tool_calls", sa.JSON(), nullable=True),
        sa.Column("tool_call_id", sa.String(length=100), nullable=True),
        sa.Column("interrupted", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("summary_until_seq", sa.Integer(), nullable=True),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_messages_conversation_id_conversations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sa.UniqueConstraint("conversation_id", "seq", name="uq_messages_conversation_id_seq"),
    )
    op.create_index(
        "ix_messages_conversation_id_kind_seq", "messages", ["conversation_id", "kind", "seq"]
    )

    op.create_table(
        "notes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        _created_at(),
        _updated_at(),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_notes_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_notes"),
    )
    op.create_index("ix_notes_user_id_updated_at", "notes", ["user_id", "updated_at"])

    if op.get_bind().dialect.name == "postgresql":
        _create_postgresql_search()
    else:
        _create_sqlite_search()

    op.create_table(
        "reminders",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "delivered",
                "cancelled",
                name="reminder_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            server_default="pending",
            nullable=False,
        ),
        _created_at(),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_reminders_conversation_id_conversations",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_reminders_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_reminders"),
    )
    op.create_index("ix_reminders_conversation_id", "reminders", ["conversation_id"])
    op.create_index(
        "ix_reminders_user_id_status_due_at", "reminders", ["user_id", "status", "due_at"]
    )


def _create_sqlite_search() -> None:
    # External-content FTS5 index over notes.content: the text is stored once (in notes) and
    # the triggers below keep the index in step with every insert/update/delete, including
    # deletes that come from ON DELETE CASCADE. porter: "dentists" finds "dentist";
    # remove_diacritics: "cafe" finds "café".
    op.execute(
        """
        CREATE VIRTUAL TABLE notes_fts USING fts5(
            content,
            content='notes',
            content_rowid='id',
            tokenize='porter unicode61 remove_diacritics 2'
        )
        """
    )
    op.execute(
        """
        CREATE TRIGGER notes_fts_after_insert AFTER INSERT ON notes BEGIN
            INSERT INTO notes_fts(rowid, content) VALUES (new.id, new.content);
        END
        """
    )
    op.execute(
        """
        CREATE TRIGGER notes_fts_after_delete AFTER DELETE ON notes BEGIN
            INSERT INTO notes_fts(notes_fts, rowid, content)
            VALUES ('delete', old.id, old.content);
        END
        """
    )
    op.execute(
        """
        CREATE TRIGGER notes_fts_after_update AFTER UPDATE OF content ON notes BEGIN
            INSERT INTO notes_fts(notes_fts, rowid, content)
            VALUES ('delete', old.id, old.content);
            INSERT INTO notes_fts(rowid, content) VALUES (new.id, new.content);
        END
        """
    )


def _create_postgresql_search() -> None:
    # The same search on PostgreSQL: a GIN index over the notes' tsvector, in a text search
    # configuration that matches FTS5's tokenizer above: English stems ("dentists" finds
    # "dentist"), accents folded (unaccent: "cafe" finds "café"), and no stop words, as FTS5
    # has none ("or" is a word one can search for). unaccent is a trusted extension: the
    # database's owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    op.execute(
        "CREATE TEXT SEARCH DICTIONARY assistant_stem (TEMPLATE = snowball, Language = english)"
    )
    op.execute("CREATE TEXT SEARCH CONFIGURATION assistant (COPY = pg_catalog.simple)")
    op.execute(
        "ALTER TEXT SEARCH CONFIGURATION assistant ALTER MAPPING FOR "
        "asciiword, asciihword, hword_asciipart, word, hword, hword_part "
        "WITH unaccent, assistant_stem"
    )
    op.execute(
        "CREATE INDEX ix_notes_content_fts ON notes "
        "USING gin (to_tsvector('assistant'::regconfig, content))"
    )


def downgrade() -> None:
    op.drop_table("reminders")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_notes_content_fts")
        op.execute("DROP TEXT SEARCH CONFIGURATION IF EXISTS assistant")
        op.execute("DROP TEXT SEARCH DICTIONARY IF EXISTS assistant_stem")
    else:
        op.execute("DROP TRIGGER IF EXISTS notes_fts_after_update")
        op.execute("DROP TRIGGER IF EXISTS notes_fts_after_delete")
        op.execute("DROP TRIGGER IF EXISTS notes_fts_after_insert")
        op.execute("DROP TABLE IF EXISTS notes_fts")
    op.drop_table("notes")
    op.drop_table("messages")
    op.drop_table("conversations")
    op.drop_table("users")
