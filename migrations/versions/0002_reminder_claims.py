"""Reminders: a live session claims one while saying it (status 'delivering', with a lease).

A reminder used to be marked delivered when it was queued to be said, so one whose page closed
before the words went out was lost. Now it is 'delivering' (claimed_by, claimed_until) until
it is heard, and pending again if the session ends first.

Revision ID: 0002_reminder_claims
Revises: 0001_initial
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_reminder_claims"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = ("pending", "delivered", "cancelled")
NEW_STATUSES = ("pending", "delivering", "delivered", "cancelled")


def _status(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(
        *values, name="reminder_status", native_enum=False, create_constraint=True, length=16
    )


def upgrade() -> None:
    with op.batch_alter_table("reminders") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
        batch.alter_column(
            "status",
            existing_type=_status(OLD_STATUSES),
            type_=_status(NEW_STATUSES),
            existing_nullable=False,
            existing_server_default=sa.text("'pending'"),
        )


def downgrade() -> None:
    # A claim in flight has not been heard: it is still due.
    op.execute("UPDATE reminders SET status = 'pending' WHERE status = 'delivering'")
    with op.batch_alter_table("reminders") as batch:
        batch.alter_column(
            "status",
            existing_type=_status(NEW_STATUSES),
            type_=_status(OLD_STATUSES),
            existing_nullable=False,
            existing_server_default=sa.text("'pending'"),
        )
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")
