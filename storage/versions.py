"""Report identity and versions: new bytes make a new version, the same bytes only move ``last_seen``.

The crawler calls :func:`record_report` for every report it downloads, inside the
transaction that also writes the outbox event (``ChangeEvent``), so an alert can never be
lost between "version recorded" and "subscribers told". It calls :func:`mark_gone` when a
known report URL answers 404/410 and :func:`withdraw_unseen` at the end of a complete crawl
of a source. Nothing is ever overwritten or deleted: a withdrawn report keeps its versions
(and their archived bytes) and stays exportable.

Identity. A report keeps its identity across fetches. A candidate is matched, in order:

1. by any URL it has had (``ReportUrl``): the URL it was found at, or one of its
   ``aliases`` (the URL before redirects, which the crawler passes);
2. by its bytes: a report of the same source that already has a version with this SHA-256
   (the same file moved to another URL);
3. by what it is: the same source, agency and report year (a report re-published at a new
   URL, possibly revised);
4. by the page it hangs on: an attachment report of the same source with the same title
   found on the same article page (a replaced attachment).

Rules 3 and 4 only link to a report that has not been seen yet in the current run, and
only when exactly one report qualifies: two reports that are live side by side (a PDF and
its DOCX on one page) stay two reports instead of flip-flopping into each other's versions.

Withdrawal and return. A withdrawn report that is found again becomes ``current``; it gets
a ``revised`` ChangeEvent with ``details["restored"] = True`` (even when the bytes are the
same and no new version is made), so subscribers who were told of the withdrawal also hear
of the return. The event kinds stay the three the outbox knows: new, revised, withdrawn.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, or_, select
from sqlalchemy.orm import Session

from domain.chinese import normalize_label
from storage.db import chunks, url_key
from storage.models import ChangeEvent, CrawlRun, Document, Report, ReportUrl, ReportVersion, utcnow

logger = logging.getLogger(__name__)

GONE_STATUSES = frozenset({404, 410})


@dataclass
class ReportCandidate:
    """What the crawler knows about a report when it has its bytes (before extraction)."""

    url: str  # identity: the attachment URL, or the page URL for an inline report (after redirects)
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
    aliases: tuple[str, ...] = ()  # other URLs that led here, e.g. the URL before a redirect

    @property
    def urls(self) -> list[str]:
        """The URL and its aliases, without repeats, the URL first."""
        return list(dict.fromkeys([self.url, *self.aliases]))


def find_report(session: Session, url: str) -> Report | None:
    """The report known at ``url`` (any URL it has ever had)."""
    row = session.execute(select(ReportUrl).where(ReportUrl.url_key == url_key(url))).scalar_one_or_none()
    return row.report if row else None


def latest_version(session: Session, report: Report) -> ReportVersion | None:
    return session.execute(
        select(ReportVersion).where(ReportVersion.report_id == report.id).order_by(ReportVersion.version.desc()).limit(1)
    ).scalar_one_or_none()


def _run_started(session: Session, run_id: int | None) -> datetime | None:
    run = session.get(CrawlRun, run_id) if run_id is not None else None
    return run.started_at if run is not None else None


def _only_unseen(session: Session, reports: list[Report], run_id: int | None) -> Report | None:
    """The one report of ``reports`` not seen yet in this run, or None when none or several qualify."""
    started = _run_started(session, run_id)
    unseen = [r for r in dict.fromkeys(reports) if started is None or r.last_seen < started]
    return unseen[0] if len(unseen) == 1 else None


def _match_by_bytes(session: Session, c: ReportCandidate, source_id: int | None) -> Report | None:
    return session.execute(
        select(Report).join(ReportVersion, ReportVersion.report_id == Report.id)
        .where(ReportVersion.sha256 == c.sha256, Report.source_id == source_id).limit(1)
    ).scalar_one_or_none()


def _match_by_what(session: Session, c: ReportCandidate, source_id: int | None, run_id: int | None) -> Report | None:
    if source_id is None or not c.agency or c.report_year is None:
        return None
    rows = session.scalars(
        select(Report).outerjoin(ReportVersion, ReportVersion.report_id == Report.id).where(
            Report.source_id == source_id,
            or_(
                (Report.agency == c.agency) & (Report.report_year == c.report_year),
                (ReportVersion.agency == c.agency) & (ReportVersion.report_year == c.report_year),
            ),
        )
    ).all()
    return _only_unseen(session, list(rows), run_id)


def _match_by_page(session: Session, c: ReportCandidate, source_id: int | None, run_id: int | None) -> Report | None:
    # The title must match too: a column page that links several years' PDFs directly is the
    # ``source_url`` of all of them, and next year's report there is not a revision of this one.
    if source_id is None or c.document_url is None or not c.source_url or not normalize_label(c.title):
        return None
    rows = session.scalars(
        select(Report).where(Report.source_id == source_id, Report.source_url == c.source_url,
                             Report.document_url.is_not(None))
    ).all()
    same = [r for r in rows if normalize_label(r.title) == normalize_label(c.title)
            and (r.report_year is None or c.report_year is None or r.report_year == c.report_year)]
    return _only_unseen(session, same, run_id)


def match_report(
    session: Session, candidate: ReportCandidate, *, run_id: int | None = None, source_id: int | None = None
) -> tuple[Report | None, str]:
    """The existing report this candidate is (see the module docstring), and which rule matched."""
    for url in candidate.urls:
        report = find_report(session, url)
        if report is not None:
            return report, "url"
    for rule, match in (("bytes", lambda: _match_by_bytes(session, candidate, source_id)),
                        ("agency_year", lambda: _match_by_what(session, candidate, source_id, run_id)),
                        ("page", lambda: _match_by_page(session, candidate, source_id, run_id))):
        report = match()
        if report is not None:
            return report, rule
    return None, ""


def _link_urls(session: Session, report: Report, c: ReportCandidate) -> list[str]:
    """Add the candidate's URLs the report did not have yet; return them."""
    added = []
    for url in c.urls:
        if find_report(session, url) is None:
            session.add(ReportUrl(report_id=report.id, url=url, url_key=url_key(url), first_seen=c.fetched_at))
            session.flush()
            added.append(url)
    return added


def _new_report(session: Session, c: ReportCandidate, source_id: int | None) -> Report:
    report = Report(
        source_id=source_id, url=c.url, source_url=c.source_url, document_url=c.document_url, title=c.title,
        agency=c.agency, region=c.region, report_year=c.report_year, template=c.template,
        first_seen=c.fetched_at, last_seen=c.fetched_at,
    )
    session.add(report)
    session.flush()
    _link_urls(session, report, c)
    return report


def _new_version(session: Session, report: Report, c: ReportCandidate, run_id: int | None) -> ReportVersion:
    last = session.execute(select(func.max(ReportVersion.version)).where(ReportVersion.report_id == report.id)).scalar()
    number = (last or 0) + 1
    version = ReportVersion(
        report_id=report.id, version=number, sha256=c.sha256, run_id=run_id, source_url=c.source_url,
        document_url=c.document_url, content_type=c.content_type, filename=c.filename, fetched_at=c.fetched_at,
        first_seen=c.fetched_at, last_seen=c.fetched_at, title=c.title, agency=c.agency, region=c.region,
        report_year=c.report_year, template=c.template, published_at=c.published_at, meta=dict(c.meta),
    )
    session.add(version)
    session.flush()
    return version


def _revision_details(previous: ReportVersion | None, version: ReportVersion | None, restored_from: datetime | None,
                      moved_to: list[str], matched_by: str) -> dict[str, Any]:
    details: dict[str, Any] = {
        "previous_version": previous.version if previous else None,
        "version": version.version if version else None,
        "previous_sha256": previous.sha256 if previous else None,
        "sha256": version.sha256 if version else None,
    }
    if restored_from is not None:
        details.update(restored=True, withdrawn_at=restored_from.isoformat())
    if moved_to:
        details.update(new_urls=moved_to, matched_by=matched_by)
    return details


def record_report(
    session: Session, candidate: ReportCandidate, *, run_id: int | None = None, source_id: int | None = None
) -> tuple[Report, ReportVersion, str]:
    """Record one downloaded report; return (report, its current version, outcome).

    outcome is ``new`` (first time seen), ``changed`` (new bytes: a new version, pending
    extraction) or ``unchanged`` (same bytes: only ``last_seen`` moves). A report found at a
    new URL is linked to the report it is (module docstring) and gets a new ``ReportUrl``.
    New reports get a ``new`` ChangeEvent, new versions and returns from withdrawal a
    ``revised`` one whose details name the versions (the value diff is added after
    extraction by :func:`storage.diff.complete_revision_details`).
    """
    report, matched_by = match_report(session, candidate, run_id=run_id, source_id=source_id)
    if report is None:
        report = _new_report(session, candidate, source_id)
        version = _new_version(session, report, candidate, run_id)
        session.add(ChangeEvent(run_id=run_id, report_id=report.id, version_id=version.id, kind="new"))
        return report, version, "new"
    moved_to = _link_urls(session, report, candidate)
    if moved_to:
        logger.info("report %s found at a new URL %s (matched by %s)", report.id, candidate.url, matched_by)
        report.source_url, report.document_url = candidate.source_url, candidate.document_url
    restored_from = report.withdrawn_at if report.status == "withdrawn" else None
    report.last_seen = max(report.last_seen, candidate.fetched_at)
    report.status, report.withdrawn_at = "current", None
    current = latest_version(session, report)
    if current is not None and current.sha256 == candidate.sha256:
        current.last_seen = max(current.last_seen, candidate.fetched_at)
        if restored_from is not None:
            session.add(ChangeEvent(run_id=run_id, report_id=report.id, version_id=current.id, kind="revised",
                                    details=_revision_details(current, current, restored_from, moved_to, matched_by)))
        return report, current, "unchanged"
    version = _new_version(session, report, candidate, run_id)
    report.title = candidate.title or report.title
    session.add(ChangeEvent(run_id=run_id, report_id=report.id, version_id=version.id, kind="revised",
                            details=_revision_details(current, version, restored_from, moved_to, matched_by)))
    return report, version, "changed"


def record_reports(
    session: Session, items: list[tuple[ReportCandidate, int | None, int | None]]
) -> list[str | Exception]:
    """:func:`record_report` for a batch of ``(candidate, run_id, source_id)``, in order; the outcomes.

    Why: one crawl batch holds hundreds of reports, nearly all of them new, and the ORM path
    costs several queries and flushes each. Candidates that can match nothing (no known URL,
    bytes, agency/year or page, in the database or elsewhere in the batch) are inserted
    together with a handful of statements; the rest go through :func:`record_report` one by
    one, each in its own savepoint, so one bad record (returned as its exception) never loses
    the others. The result is the same as calling :func:`record_report` for each in order.
    """
    outcomes: list[str | Exception | None] = [None] * len(items)
    try:  # a bad record fails the bulk path as a whole: it is then found and reported one by one
        fresh = _certainly_new(session, [c for c, _, _ in items], [s for _, _, s in items])
        if fresh:
            with session.begin_nested():
                _insert_new(session, [items[i] for i in fresh])
            for i in fresh:
                outcomes[i] = "new"
    except Exception:
        logger.exception("bulk recording of %d reports failed; recording them one by one", len(items))
    for i, (candidate, run_id, source_id) in enumerate(items):
        if outcomes[i] is not None:
            continue
        try:
            with session.begin_nested():
                outcomes[i] = record_report(session, candidate, run_id=run_id, source_id=source_id)[2]
        except Exception as exc:  # noqa: BLE001 - returned as this record's outcome; the caller logs and counts it
            outcomes[i] = exc
    return outcomes  # type: ignore[return-value]


def _identity_keys(c: ReportCandidate, source_id: int | None) -> list[tuple[Any, ...]]:
    """Every key by which ``c`` could match another report (a superset of the match rules)."""
    keys: list[tuple[Any, ...]] = [("url", url_key(u)) for u in c.urls]
    keys.append(("bytes", c.sha256, source_id))
    if source_id is not None and c.agency and c.report_year is not None:
        keys.append(("what", source_id, c.agency, c.report_year))
    if source_id is not None and c.document_url is not None and c.source_url and normalize_label(c.title):
        keys.append(("page", source_id, c.source_url, normalize_label(c.title)))
    return keys


def _known_keys(session: Session, wanted: set[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
    """Which of the identity keys ``wanted`` an existing report already has (a few IN queries)."""
    by_kind: dict[str, list[tuple[Any, ...]]] = {}
    for key in wanted:
        by_kind.setdefault(key[0], []).append(key)
    known: set[tuple[Any, ...]] = set()
    for chunk in chunks([k[1] for k in by_kind.get("url", [])]):
        known.update(("url", k) for k in session.scalars(select(ReportUrl.url_key).where(ReportUrl.url_key.in_(chunk))))
    for chunk in chunks(sorted({k[1] for k in by_kind.get("bytes", [])})):
        rows = session.execute(select(ReportVersion.sha256, Report.source_id).join(Report, Report.id == ReportVersion.report_id)
                               .where(ReportVersion.sha256.in_(chunk)))
        known.update(("bytes", sha, source) for sha, source in rows)
    what = by_kind.get("what", [])
    if what:
        sources, agencies = sorted({k[1] for k in what}), sorted({k[2] for k in what})
        for model in (Report, ReportVersion):
            query = select(Report.source_id, model.agency, model.report_year)
            if model is ReportVersion:
                query = query.join(ReportVersion, ReportVersion.report_id == Report.id)
            for chunk in chunks(agencies):
                rows = session.execute(query.where(Report.source_id.in_(sources), model.agency.in_(chunk)))
                known.update(("what", *row) for row in rows)
    page = by_kind.get("page", [])
    for chunk in chunks(sorted({k[2] for k in page})):
        rows = session.execute(select(Report.source_id, Report.source_url, Report.title).where(
            Report.source_url.in_(chunk), Report.document_url.is_not(None)))
        known.update(("page", source, url, normalize_label(title)) for source, url, title in rows)
    return known


def _certainly_new(session: Session, candidates: list[ReportCandidate], sources: list[int | None]) -> list[int]:
    """Indexes of the candidates that share no identity key with a known report or another candidate."""
    keys = [_identity_keys(c, s) for c, s in zip(candidates, sources, strict=True)]
    uses: dict[tuple[Any, ...], int] = {}
    for own in keys:
        for key in set(own):
            uses[key] = uses.get(key, 0) + 1
    known = _known_keys(session, set(uses))
    return [i for i, own in enumerate(keys) if all(uses[k] == 1 and k not in known for k in own)]


def _insert_new(session: Session, items: list[tuple[ReportCandidate, int | None, int | None]]) -> None:
    """Insert new reports with their URLs, first versions and ``new`` events (as ``record_report`` does)."""
    session.flush()  # Core statements below, not the ORM's bulk machinery: a third of the cost
    reports, versions = Report.__table__, ReportVersion.__table__
    report_ids = session.scalars(insert(reports).returning(reports.c.id, sort_by_parameter_order=True), [
        {"source_id": s, "url": c.url, "source_url": c.source_url, "document_url": c.document_url, "title": c.title,
         "agency": c.agency, "region": c.region, "report_year": c.report_year, "template": c.template,
         "first_seen": c.fetched_at, "last_seen": c.fetched_at} for c, _, s in items]).all()
    session.execute(insert(ReportUrl.__table__), [
        {"report_id": rid, "url": url, "url_key": url_key(url), "first_seen": c.fetched_at}
        for rid, (c, _, _) in zip(report_ids, items, strict=True) for url in c.urls])
    version_ids = session.scalars(insert(versions).returning(versions.c.id, sort_by_parameter_order=True), [
        {"report_id": rid, "version": 1, "sha256": c.sha256, "run_id": run_id, "source_url": c.source_url,
         "document_url": c.document_url, "content_type": c.content_type, "filename": c.filename,
         "fetched_at": c.fetched_at, "first_seen": c.fetched_at, "last_seen": c.fetched_at, "title": c.title,
         "agency": c.agency, "region": c.region, "report_year": c.report_year, "template": c.template,
         "published_at": c.published_at, "meta": dict(c.meta)}
        for rid, (c, run_id, _) in zip(report_ids, items, strict=True)]).all()
    session.execute(insert(ChangeEvent.__table__), [
        {"run_id": run_id, "report_id": rid, "version_id": vid, "kind": "new"}
        for rid, vid, (_, run_id, _) in zip(report_ids, version_ids, items, strict=True)])


def _withdraw(session: Session, report: Report, *, run_id: int | None, when: datetime, reason: dict[str, Any]) -> None:
    report.status, report.withdrawn_at = "withdrawn", when
    current = latest_version(session, report)
    session.add(ChangeEvent(run_id=run_id, report_id=report.id, version_id=current.id if current else None,
                            kind="withdrawn", created_at=when, details=reason))


def mark_gone(session: Session, url: str, run_id: int | None, status: int, when: datetime | None = None) -> Report | None:
    """A known report URL answered ``status`` (404 or 410): withdraw its report; return it.

    Call this for every re-requested URL of a known report that answers 404/410. Nothing
    happens (None is returned) when the URL belongs to no report, the status is not 404/410,
    the report is already withdrawn, or the report has been seen at another URL in this run
    (it moved: the new URL keeps it current). If the moved report is found at its new URL
    only later in the run, :func:`record_report` makes it current again. The caller counts
    the returned report in ``CrawlRun.reports_withdrawn``; this function does not touch the run.
    """
    report = find_report(session, url)
    if report is None or status not in GONE_STATUSES or report.status == "withdrawn":
        return None
    started = _run_started(session, run_id)
    if started is not None and report.last_seen >= started:
        logger.info("report %s: %s answered %s but the report was seen elsewhere in this run", report.id, url, status)
        return None
    _withdraw(session, report, run_id=run_id, when=when or utcnow(), reason={"reason": f"http_{status}", "url": url})
    return report


def _seen_as_document(session: Session, report: Report, since: datetime) -> datetime | None:
    """When a URL of the report was last fetched without 404/410 since ``since`` (a 304 moves only the Document)."""
    keys = [u.url_key for u in report.urls]
    return session.scalar(select(func.max(Document.last_seen)).where(
        Document.url_key.in_(keys), Document.last_seen >= since,
        or_(Document.last_status.is_(None), Document.last_status.not_in(GONE_STATUSES))))


def _crawl_started(session: Session, run_id: int | None, since: datetime) -> datetime:
    """The start of the crawl ``run_id`` belongs to: a resumed run also covers the runs it resumed."""
    seen: set[int] = set()
    run = session.get(CrawlRun, run_id) if run_id is not None else None
    while run is not None and run.id not in seen:
        seen.add(run.id)
        since = min(since, run.started_at)
        previous = (run.stats or {}).get("resumed_from")
        run = session.get(CrawlRun, previous) if previous else None
    return since


def withdraw_unseen(session: Session, source_id: int, run_id: int | None, since: datetime) -> int:
    """Withdraw the current reports of ``source_id`` not seen since ``since``; return how many.

    Call this only at the end of a *complete* crawl of the source (every listing page read,
    not stopped by --max-pages, errors or a kill), with ``since`` = the run's start: a report
    that did not turn up in its column in a complete crawl has been removed. When the run
    resumed a killed one (``stats["resumed_from"]``), reports seen by the killed run count as
    seen. A report whose URL answered 304 counts as seen if its ``Document.last_seen`` moved
    (its ``last_seen`` is then brought up to date here). The caller adds the number to
    ``CrawlRun.reports_withdrawn``; this function does not touch the run.
    """
    when, since = utcnow(), _crawl_started(session, run_id, since)
    reports = session.scalars(
        select(Report).where(Report.source_id == source_id, Report.status == "current", Report.last_seen < since)
        .order_by(Report.id)
    ).all()
    withdrawn = 0
    for report in reports:
        seen = _seen_as_document(session, report, since)
        if seen is not None:
            report.last_seen = seen
            current = latest_version(session, report)
            if current is not None:
                current.last_seen = max(current.last_seen, seen)
            continue
        reason = {"reason": "not_listed", "last_seen": report.last_seen.isoformat()}
        _withdraw(session, report, run_id=run_id, when=when, reason=reason)
        withdrawn += 1
    return withdrawn


def touch_report(session: Session, url: str, run_id: int | None = None, when: datetime | None = None) -> Report | None:
    """A known report URL answered 304 Not Modified: move ``last_seen`` of the report and its version.

    Same as recording the same bytes again, without having them: a withdrawn report found
    again this way becomes current (with a ``revised``/restored event, as in record_report).
    """
    report = find_report(session, url)
    if report is None:
        return None
    current = latest_version(session, report)
    if current is None:
        return report
    candidate = ReportCandidate(
        url=url, source_url=report.source_url, document_url=report.document_url, title=report.title,
        sha256=current.sha256, fetched_at=when or utcnow(),
    )
    record_report(session, candidate, run_id=run_id, source_id=report.source_id)
    return report
