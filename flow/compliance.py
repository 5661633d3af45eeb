"""The after-crawl ``compliance`` step: key new reports and re-evaluate who owes what.

It runs after the index and before the alerts, so a report that turned an expectation from
missing to late, or a deadline that passed tonight, reaches subscribers in tonight's digest.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from domain.config import Settings
from storage.compliance import evaluate
from storage.db import Database
from storage.models import utcnow


def compliance_step(db: Database, settings: Settings, run_ids: Sequence[int] | None) -> dict[str, Any]:
    with db.session() as session:
        return evaluate(session, now=utcnow(), grace_days=settings.compliance_grace_days)
