"""fixity_audits: the record of each fixity audit (ogi verify)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 09:20:00

An archive owes its users proof that what it holds is what it fetched: each audit re-reads
blobs and WARC records and records its counts, its problems and where the next rotating
sample starts (storage/fixity.py).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fixity_audits",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("sample", sa.Integer(), nullable=True),
        sa.Column("since", UTCDateTime(), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("cursor", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("fixity_audits")
