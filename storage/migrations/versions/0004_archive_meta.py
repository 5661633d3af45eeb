"""archive_meta: facts about the archive kept with it, such as its data directory

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 10:00:00

Blobs and WARC files live in a data directory; which one was only in each command's settings,
whose default (./data) depends on the working directory. The archive now records it
(storage/archive_meta.py), so ``ogi serve --db X`` finds X's blobs from anywhere.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "archive_meta",
        sa.Column("key", sa.String(length=100), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("archive_meta")
