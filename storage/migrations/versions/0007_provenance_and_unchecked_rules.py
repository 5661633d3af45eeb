"""report_versions.provenance and checks.ok nullable

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 09:30:00

Each extracted version records the versions of what read it (the project and its extraction
code, trafilatura, pdfium, pdfplumber, python-docx, LibreOffice, tesseract and its model), so a
researcher can cite them and ``ogi reextract --outdated-only`` redoes exactly the versions a
change concerns (pipelines/provenance.py). A rule that needs what the archive lacks (the
previous year's report, for the cross-year rules R8/R9) is stored with ``ok`` null: not
checked, which is neither passed nor failed.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("report_versions") as batch:
        batch.add_column(sa.Column("provenance", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("checks") as batch:
        batch.alter_column("ok", existing_type=sa.Boolean(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM checks WHERE ok IS NULL")
    with op.batch_alter_table("checks") as batch:
        batch.alter_column("ok", existing_type=sa.Boolean(), nullable=False)
    with op.batch_alter_table("report_versions") as batch:
        batch.drop_column("provenance")
