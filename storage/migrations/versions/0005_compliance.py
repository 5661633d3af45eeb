"""compliance: region codes and agency keys on reports, agency corrections, expectations

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 09:30:00

"Who has not published" needs regions that are real divisions (GB/T 2260 codes, from the
gazetteer), one key per publishing body across years, manual corrections of that key that
can be undone, and one row per report a body owes for a year (storage/compliance.py).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("region_code", sa.String(length=12), nullable=True))
        batch.add_column(sa.Column("agency_key", sa.String(length=250), nullable=True))
    op.create_index("ix_reports_region_code", "reports", ["region_code"])
    op.create_index("ix_reports_agency_key", "reports", ["agency_key"])
    op.create_table(
        "agency_corrections",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("from_key", sa.String(length=250), nullable=False),
        sa.Column("to_key", sa.String(length=250), nullable=False),
        sa.Column("report_id", sa.Integer(), sa.ForeignKey("reports.id"), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("reverted_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "expectations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("source_id", sa.Integer(), sa.ForeignKey("sources.id"), nullable=False),
        sa.Column("agency_key", sa.String(length=250), nullable=False),
        sa.Column("agency", sa.String(length=200), nullable=False),
        sa.Column("region", sa.String(length=200), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=False),
        sa.Column("report_year", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("deadline", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("report_id", sa.Integer(), sa.ForeignKey("reports.id"), nullable=True),
        sa.Column("published_at", sa.String(length=10), nullable=True),
        sa.Column("days_late", sa.Integer(), nullable=True),
        sa.Column("alerted", sa.JSON(), nullable=False),
        sa.Column("evaluated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("source_id", "agency_key", "report_year"),
    )
    op.create_index("ix_expectations_source_id", "expectations", ["source_id"])
    op.create_index("ix_expectations_year_region", "expectations", ["report_year", "region_code"])


def downgrade() -> None:
    op.drop_table("expectations")
    op.drop_table("agency_corrections")
    op.drop_index("ix_reports_agency_key", table_name="reports")
    op.drop_index("ix_reports_region_code", table_name="reports")
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("agency_key")
        batch.drop_column("region_code")
