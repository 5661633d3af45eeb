"""change_events.report_id nullable: a missing-report event may have no report at all

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 13:20:00

A local government that has never published a report at its source is listed ``missing``
by the compliance evaluation, but its alert had nothing to point at while every event
needed a report. Such an event now carries the expectation alone (its details) and the
digest links the compliance page.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("change_events", schema=None) as batch_op:
        batch_op.alter_column("report_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM digest_events WHERE event_id IN (SELECT id FROM change_events WHERE report_id IS NULL)")
    op.execute("DELETE FROM change_events WHERE report_id IS NULL")
    with op.batch_alter_table("change_events", schema=None) as batch_op:
        batch_op.alter_column("report_id", existing_type=sa.Integer(), nullable=False)
