"""Memory: facts about the user (memories), and a full-text index over what was said.

On SQLite, ``messages_fts`` is an external-content FTS5 index over the text of user and assistant
messages and summaries (not tool calls or results): the triggers below keep it in step with every
insert, update and delete of ``messages``, including the ones a deleted conversation cascades to.
On PostgreSQL the same messages are indexed by a partial GIN index over their tsvector, in the
text search configuration of 0001 (as the notes'); PostgreSQL keeps it in step itself.

Revision ID: 0004_memory
Revises: 0003_llm_usage
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_memory"
down_revision: str | Sequence[str] | None = "0003_llm_usage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Which messages are searchable; the insert and the delete must agree exactly, or the external
# content index would be asked to delete what it never held (and report a corrupt index).
SEARCHABLE = (
    "{row}.content IS NOT NULL AND ({row}.kind = 'summary' "
    "OR ({row}.role IN ('user', 'assistant') AND {row}.tool_call_id IS NULL))"
)


def _now() -> sa.TextClause:
    return sa.text("(CURRENT_TIMESTAMP)")


def upgrade() -> None:
    op.create_table(
        "memories",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("pinned", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("inferred", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("source_conversation_id", sa.String(length=32), nullable=True),
        sa.Column("source_message_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("superseded_by_id", sa.Integer(), nullable=True),
        sa.Column("use_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_memories_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["source_conversation_id"],
            ["conversations.id"],
            name="fk_memories_source_conversation_id_conversations",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["source_message_id"],
            ["messages.id"],
            name="fk_memories_source_message_id_messages",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["superseded_by_id"],
            ["memories.id"],
            name="fk_memories_superseded_by_id_memories",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_memories"),
    )
    op.create_index("ix_memories_user_id_subject", "memories", ["user_id", "subject"])
    # The block's order, read off the index (models.Memory says why).
    op.create_index(
        "ix_memories_block",
        "memories",
        ["user_id", "superseded_at", "pinned", "use_count", "last_used_at", "updated_at"],
    )
    op.create_index("ix_memories_source_conversation_id", "memories", ["source_conversation_id"])
    op.create_index("ix_memories_source_message_id", "memories", ["source_message_id"])
    op.create_index("ix_memories_superseded_by_id", "memories", ["superseded_by_id"])

    if op.get_bind().dialect.name == "postgresql":
        _create_postgresql_search()
    else:
        _create_sqlite_search()


def _create_postgresql_search() -> None:
    # A search must repeat the predicate (search_postgres.SEARCHABLE) for the planner to use it.
    op.execute(
        "CREATE INDEX ix_messages_content_fts ON messages "
        "USING gin (to_tsvector('assistant'::regconfig, content)) "
        f"WHERE {SEARCHABLE.format(row='messages')}"
    )


def _create_sqlite_search() -> None:
    # Same tokenizer as notes_fts: "trips" finds "trip", "cafe" finds "café".
    op.execute(
        """
        CREATE VIRTUAL TABLE messages_fts USING fts5(
            content,
            content='messages',
            content_rowid='id',
            tokenize='porter unicode61 remove_diacritics 2'
        )
        """
    )
    new, old = SEARCHABLE.format(row="new"), SEARCHABLE.format(row="old")
    op.execute(
        f"""
        CREATE TRIGGER messages_fts_after_insert AFTER INSERT ON messages
        WHEN {new} BEGIN
            INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
        END
        """
    )
    op.execute(
        f"""
        CREATE TRIGGER messages_fts_after_delete AFTER DELETE ON messages
        WHEN {old} BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, content)
            VALUES ('delete', old.id, old.content);
        END
        """
    )
    # Two triggers for an update, each with its own condition, since either side may not be
    # searchable (e.g. content filled in later).
    op.execute(
        f"""
        CREATE TRIGGER messages_fts_before_update BEFORE UPDATE ON messages
        WHEN {old} BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, content)
            VALUES ('delete', old.id, old.content);
        END
        """
    )
    op.execute(
        f"""
        CREATE TRIGGER messages_fts_after_update AFTER UPDATE ON messages
        WHEN {new} BEGIN
            INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
        END
        """
    )
    op.execute(
        f"""
        INSERT INTO messages_fts(rowid, content)
        SELECT id, content FROM messages AS new WHERE {new}
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_messages_content_fts")
        op.drop_table("memories")
        return
    for name in ("after_update", "before_update", "after_delete", "after_insert"):
        op.execute(f"DROP TRIGGER IF EXISTS messages_fts_{name}")
    op.execute("DROP TABLE IF EXISTS messages_fts")
    op.drop_table("memories")
