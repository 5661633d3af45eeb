"""What the pages and the API show, read from the archive (no HTTP here, so both share it)."""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.exports import record
from storage.models import Blob, CheckResult, ExtractedValue, Report, ReportVersion
from storage.search import SearchQuery, version_ids
from web.table_layout import Table, layout

#: Outcome groups of the applications table, charted per year (sums of the ``total`` column).
OUTCOME_GROUPS = {
    "予以公开": ("result.disclosed",),
    "部分公开": ("result.partial",),
    "不予公开": ("result.withheld.",),
    "无法提供": ("result.unavailable.",),
    "不予处理": ("result.not_processed.",),
    "其他处理": ("result.other",),
}


@dataclass
class ReportView:
    """One version of one report with everything its page shows."""

    report: Report
    version: ReportVersion
    versions: list[ReportVersion]
    values: dict[str, Any]  # key -> row with value, raw, unit, derived, ocr
    checks: list[CheckResult]
    tables: list[Table]
    blob: Blob | None

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if c.ok is False]  # None: not checked

    @property
    def previous(self) -> ReportVersion | None:
        older = [v for v in self.versions if v.version < self.version.version]
        return older[-1] if older else None

    def record(self) -> dict[str, Any]:
        vals = {k: v.value for k, v in self.values.items()}
        checks = [{"rule": c.rule, "ok": c.ok, "detail": c.detail} for c in self.checks]
        return record(self.version, self.report, vals, checks, with_ids=True)


def report_view(session: Session, report_id: int, version: int | None = None) -> ReportView | None:
    """The report's page data for ``version`` (default: newest), or None if there is no such version."""
    report = session.get(Report, report_id)
    if report is None or not report.versions:
        return None
    versions = list(report.versions)
    chosen = versions[-1] if version is None else next((v for v in versions if v.version == version), None)
    if chosen is None:
        return None
    # Core rows (attributes key, value, raw, unit, derived, ocr), not ORM objects: a 2021 report has
    # 207 cells and the ORM would take most of the page's time budget building them.
    values = {row.key: row for row in session.connection().execute(
        select(ExtractedValue.key, ExtractedValue.value, ExtractedValue.raw, ExtractedValue.unit, ExtractedValue.derived,
               ExtractedValue.ocr)
        .where(ExtractedValue.version_id == chosen.id).order_by(ExtractedValue.id))}
    checks = list(chosen.checks)
    blob = session.get(Blob, chosen.sha256)
    return ReportView(report, chosen, versions, values, checks, layout(chosen.template, values, checks), blob)


def version_summary(v: ReportVersion) -> dict[str, Any]:
    return {
        "version": v.version, "sha256": v.sha256, "fetched_at": v.fetched_at.isoformat(),
        "first_seen": v.first_seen.isoformat(), "last_seen": v.last_seen.isoformat(),
        "title": v.title, "extraction_status": v.extraction_status, "content_type": v.content_type,
        "document_url": v.document_url, "source_url": v.source_url,
    }


def cite(view: ReportView, base_url: str) -> str:
    """A citation line naming the archived version by stable ids and hash."""
    v, r = view.version, view.report
    link = f"{base_url.rstrip('/')}/reports/{r.id}/versions/{v.version}"
    year = f" ({v.report_year})" if v.report_year else ""
    return (f"{v.agency or r.agency}. {v.title or r.title}{year}. {v.document_url or v.source_url}. "
            f"Archived by ogi-archive as report {r.id} version {v.version} (sha256 {v.sha256[:12]}), "
            f"fetched {v.fetched_at:%Y-%m-%d}. {link}")


def facets(session: Session) -> dict[str, list[Any]]:
    """Choices for the search form's drop-downs."""
    years = [y for (y,) in session.execute(
        select(ReportVersion.report_year).where(ReportVersion.report_year.is_not(None)).distinct().order_by(ReportVersion.report_year.desc()))]
    rules = [r for (r,) in session.execute(select(CheckResult.rule).distinct().order_by(CheckResult.rule))]
    return {"years": years, "rules": rules, "templates": ["2019", "2021", "legacy"]}


def application_chart(session: Session, query: SearchQuery) -> dict[str, Any]:
    """Applications received and their outcomes per report year, summed over the selection."""
    ids = version_ids(session, query).subquery()
    keys = ["applications.new.total"] + [
        k for k, in session.execute(select(ExtractedValue.key).where(
            ExtractedValue.key.like("applications.result.%.total")).distinct())]
    rows = session.execute(
        select(ReportVersion.report_year, ExtractedValue.key, func.sum(ExtractedValue.value))
        .join(ExtractedValue, ExtractedValue.version_id == ReportVersion.id)
        .where(ReportVersion.id.in_(select(ids.c.id)), ExtractedValue.key.in_(keys),
               ReportVersion.report_year.is_not(None))
        .group_by(ReportVersion.report_year, ExtractedValue.key)
    ).all()
    by_year: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for year, key, total in rows:
        by_year[year][key.removeprefix("applications.").removesuffix(".total")] += total or 0
    years = sorted(by_year)
    series = {"收到申请": [by_year[y].get("new", 0) for y in years]}
    for label, prefixes in OUTCOME_GROUPS.items():
        series[label] = [sum(v for k, v in by_year[y].items() if _in_group(k, prefixes)) for y in years]
    return {"years": years, "series": series}


def _in_group(row: str, prefixes: tuple[str, ...]) -> bool:
    # "result.other" is the 2019 row and the 2021 derived sum; its 2021 sub-rows would count twice.
    return any(row == p or (p.endswith(".") and row.startswith(p)) for p in prefixes)


def coverage_chart(session: Session, query: SearchQuery) -> dict[str, Any]:
    """Reports per region (one level below the region filter) and report year."""
    depth = len([p for p in query.region.split("/") if p]) + 1
    ids = version_ids(session, query).subquery()
    counts: Counter[tuple[str, int]] = Counter()
    for region, year in session.execute(
        select(ReportVersion.region, ReportVersion.report_year).where(ReportVersion.id.in_(select(ids.c.id)))
    ):
        name = "/".join((region or "（未知）").split("/")[:depth])
        counts[(name, year or 0)] += 1
    # Ties by name: a set's order changes from process to process (string hashing).
    regions = sorted({r for r, _ in counts}, key=lambda r: (-sum(n for (rr, _), n in counts.items() if rr == r), r))[:20]
    years = sorted({y for _, y in counts})
    return {"regions": regions, "years": years,
            "series": {str(y or "未知"): [counts.get((r, y), 0) for r in regions] for y in years}}


def archive_stats(session: Session) -> dict[str, int]:
    return {
        "reports": session.execute(select(func.count(Report.id))).scalar_one(),
        "versions": session.execute(select(func.count(ReportVersion.id))).scalar_one(),
    }
