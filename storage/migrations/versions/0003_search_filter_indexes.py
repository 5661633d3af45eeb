"""indexes for search filters: report_versions (report_year, region), checks (ok, rule, version_id)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 11:15:00

The search page filters by report year and region (a prefix of 省/市/县). Without an index
every version matching the text had to be read to test them: a common term with a year and
province filter took 100-200 ms on 100,000 versions (bench/web_perf.py); a failing-rule
filter read the checks of every match.
"""
from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_report_versions_year_region", "report_versions", ["report_year", "region"], unique=False)
    op.create_index("ix_checks_failing", "checks", ["ok", "rule", "version_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_checks_failing", table_name="checks")
    op.drop_index("ix_report_versions_year_region", table_name="report_versions")
