"""full-text search index (storage/search.py)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:50:00

SQLite: FTS5 trigram table over report_versions.text + gram table + triggers;
PostgreSQL: pg_trgm GIN index + gram table + trigger. Existing versions are queued for the
gram index, which ``storage.search.sync_index`` (run by ``ogi serve``) fills.
"""
from __future__ import annotations

from alembic import op

from storage import search

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    search.install(op.get_bind())


def downgrade() -> None:
    search.uninstall(op.get_bind())
