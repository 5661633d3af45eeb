"""Versioning: new bytes -> a new version and an outbox event; same bytes -> only last_seen moves."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from storage.db import Database
from storage.models import ChangeEvent, ReportVersion, utcnow
from storage.versions import ReportCandidate, record_report


def _candidate(sha: str, when_offset: int = 0) -> ReportCandidate:
    return ReportCandidate(
        url="http://127.0.0.1/art/2021/1/20/art_1_2.html", source_url="http://127.0.0.1/col/index.html",
        document_url=None, title="众兴镇2020年度政府信息公开工作年度报告", sha256=sha,
        fetched_at=utcnow() + timedelta(days=when_offset),
    )


def test_same_bytes_touch_new_bytes_version(db: Database) -> None:
    with db.session() as s:
        _, v1, outcome = record_report(s, _candidate("a" * 64))
        assert (outcome, v1.version) == ("new", 1)
    with db.session() as s:
        report, v, outcome = record_report(s, _candidate("a" * 64, 1))
        assert (outcome, v.version) == ("unchanged", 1)
        assert v.last_seen > v.first_seen
    with db.session() as s:
        _, v2, outcome = record_report(s, _candidate("b" * 64, 2))
        assert (outcome, v2.version) == ("changed", 2)
    with db.session() as s:
        assert [v.sha256[0] for v in s.scalars(select(ReportVersion).order_by(ReportVersion.version))] == ["a", "b"]
        assert [e.kind for e in s.scalars(select(ChangeEvent).order_by(ChangeEvent.id))] == ["new", "revised"]
