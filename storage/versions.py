"""Report identity and versions: new bytes make a new version, the same bytes only move ``last_seen``.

The crawler calls :func:`record_report` for every report it downloads, inside the
transaction that also writes the outbox event (``ChangeEvent``), so an alert can never be
lost between "version recorded" and "subscribers told".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.db import url_key
from storage.models import ChangeEvent, Report, ReportUrl, ReportVersion, utcnow


@dataclass
class ReportCandidate:
    """What the crawler knows about a report when it has its bytes (before extraction)."""

    url: str  # identity: the attachment URL, or the page URL for an inline report
    source_url: str
    document_url: str | None
    title: str
    sha256: str
    content_type: str = ""
    filename: str = ""
    region: str = ""
    agency: str = ""
    report_year: int | None = None
    template: str = ""
    published_at: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    fetched_at: datetime = field(default_factory=utcnow)


def find_report(session: Session, url: str) -> Report | None:
    """The report known at ``url`` (any URL it has ever had)."""
    row = session.execute(select(ReportUrl).where(ReportUrl.url_key == url_key(url))).scalar_one_or_none()
    return row.report if row else None


def latest_version(session: Session, report: Report) -> ReportVersion | None:
    return session.execute(
        select(ReportVersion).where(ReportVersion.report_id == report.id).order_by(ReportVersion.version.desc()).limit(1)
    ).scalar_one_or_none()


def _new_report(session: Session, c: ReportCandidate, source_id: int | None) -> Report:
    report = Report(
        source_id=source_id, url=c.url, source_url=c.source_url, document_url=c.document_url, title=c.title,
        agency=c.agency, region=c.region, report_year=c.report_year, template=c.template,
        first_seen=c.fetched_at, last_seen=c.fetched_at,
    )
    session.add(report)
    session.flush()
    session.add(ReportUrl(report_id=report.id, url=c.url, url_key=url_key(c.url), first_seen=c.fetched_at))
    return report


def _new_version(session: Session, report: Report, c: ReportCandidate, run_id: int | None) -> ReportVersion:
    number = (session.execute(select(func.max(ReportVersion.version)).where(ReportVersion.report_id == report.id)).scalar() or 0) + 1
    version = ReportVersion(
        report_id=report.id, version=number, sha256=c.sha256, run_id=run_id, source_url=c.source_url,
        document_url=c.document_url, content_type=c.content_type, filename=c.filename, fetched_at=c.fetched_at,
        first_seen=c.fetched_at, last_seen=c.fetched_at, title=c.title, agency=c.agency, region=c.region,
        report_year=c.report_year, template=c.template, published_at=c.published_at, meta=dict(c.meta),
    )
    session.add(version)
    session.flush()
    return version


def record_report(
    session: Session, candidate: ReportCandidate, *, run_id: int | None = None, source_id: int | None = None
) -> tuple[Report, ReportVersion, str]:
    """Record one downloaded report; return (report, its current version, outcome).

    outcome is ``new`` (first time seen), ``changed`` (new bytes: a new version, pending
    extraction) or ``unchanged`` (same bytes: only ``last_seen`` moves). A withdrawn report
    that reappears becomes ``current`` again. New and changed reports get a ChangeEvent.
    """
    report = find_report(session, candidate.url)
    if report is None:
        report = _new_report(session, candidate, source_id)
        version = _new_version(session, report, candidate, run_id)
        session.add(ChangeEvent(run_id=run_id, report_id=report.id, version_id=version.id, kind="new"))
        return report, version, "new"
    report.last_seen = candidate.fetched_at
    report.status, report.withdrawn_at = "current", None
    current = latest_version(session, report)
    if current is not None and current.sha256 == candidate.sha256:
        current.last_seen = candidate.fetched_at
        return report, current, "unchanged"
    version = _new_version(session, report, candidate, run_id)
    report.title = candidate.title or report.title
    session.add(
        ChangeEvent(run_id=run_id, report_id=report.id, version_id=version.id, kind="revised",
                    details={"previous_version": current.version if current else None})
    )
    return report, version, "changed"
