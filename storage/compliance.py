"""Expected reports and their status: who has not published, and who published late.

The Regulations on Open Government Information fix the deadlines: each department's annual
report for year *t* by 31 January of *t+1*, the local government's consolidated report by
31 March. For every source and report year the archive expects a report from

* every body that published for an earlier year at that source (under its agency key, or
  the key of the body that took over from it: a renamed department passes its duty on), and
* the local government of the source's region itself,

plus whoever did publish for that year. Each expectation is ``on_time``, ``late`` (published
after the deadline; ``days_late``), ``withdrawn`` (its only reports were taken down),
``missing`` (nothing by deadline + ``compliance_grace_days``) or ``pending`` (nothing yet,
but still inside deadline + grace). Publication is the date the report prints or its page
meta gives (``published_at`` of its first version), else the day the archive first saw it.

:func:`evaluate` runs after every crawl (flow/after_crawl.py) and takes the clock as an
argument, so a test can walk it night by night across the deadlines; a body that publishes
late moves from missing to late. Entering ``missing`` or ``late`` writes a ChangeEvent of
that kind once per expectation (``Expectation.alerted``), so the exactly-once alert outbox
tells subscribers about it like any other event. Only the current cycle alerts (deadline +
grace within the last :data:`ALERT_WINDOW`): an archive catching up on old years does not
flood anyone.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from domain.agencies import GOVERNMENT, government_key, is_government, successor
from storage.agencies import identify, links, source_code
from storage.models import ChangeEvent, Expectation, Report, ReportVersion, Source

CHINA = ZoneInfo("Asia/Shanghai")
STATUSES = ("on_time", "late", "missing", "withdrawn", "pending")
ALERT_KINDS = ("missing", "late")
ALERT_WINDOW = timedelta(days=365)
COLUMNS = ("agency", "agency_key", "region", "region_code", "report_year", "kind", "deadline", "status",
           "published_at", "days_late", "report_id")


def deadline(report_year: int, *, government: bool) -> date:
    """31 January (departments) or 31 March (the local government's consolidated report) of t+1."""
    return date(report_year + 1, 3, 31) if government else date(report_year + 1, 1, 31)


@dataclass
class Published:
    """One report as compliance sees it."""

    report_id: int
    key: str
    agency: str
    region: str
    region_code: str
    year: int
    on: date
    current: bool


def _publication_day(printed: str | None, first_seen: datetime) -> date:
    try:
        return date.fromisoformat((printed or "")[:10])
    except ValueError:
        return first_seen.astimezone(CHINA).date()


def _published(session: Session, source_id: int) -> list[Published]:
    rows = session.execute(
        select(Report, ReportVersion.published_at)
        .outerjoin(ReportVersion, (ReportVersion.report_id == Report.id) & (ReportVersion.version == 1))
        .where(Report.source_id == source_id, Report.report_year.is_not(None), Report.agency_key.is_not(None))
        .order_by(Report.id)
    ).all()
    return [Published(r.id, r.agency_key or "", r.agency, r.region, r.region_code or "", r.report_year or 0,
                      _publication_day(printed, r.first_seen), r.status == "current") for r, printed in rows]


def _heir(key: str, manual: dict[str, str]) -> str:
    """The key that owes ``key``'s reports now: follow manual links and known renames."""
    seen = {key}
    while (nxt := manual.get(key) or successor(key)) and nxt not in seen:
        key = nxt
        seen.add(key)
    return key


def _status(reports: list[Published], due: date, today: date, grace: int) -> tuple[str, Published | None, int | None]:
    current = sorted((p for p in reports if p.current), key=lambda p: p.on)
    if current:
        first = current[0]
        late = (first.on - due).days
        return ("late", first, late) if late > 0 else ("on_time", first, None)
    if reports:
        return "withdrawn", max(reports, key=lambda p: p.on), None
    return ("missing" if today > due + timedelta(days=grace) else "pending"), None, None


@dataclass
class _Owed:
    key: str
    agency: str
    region: str
    region_code: str


def _owed(source: Source, code: str | None, published: list[Published], year: int,
          manual: dict[str, str]) -> dict[str, _Owed]:
    """Who owes a report for ``year`` at this source, by key, with the name and region to show."""
    owed: dict[str, _Owed] = {}
    if code:
        unit = source.county or source.city or source.province
        owed[government_key(code)] = _Owed(government_key(code), f"{unit}{GOVERNMENT}", source.region, code)
    for p in sorted(published, key=lambda p: (p.year, p.report_id)):
        if p.year > year:
            break
        key = p.key if p.year == year else _heir(p.key, manual)
        name = p.agency if key == p.key else (owed[key].agency if key in owed else key.partition("/")[2])
        owed[key] = _Owed(key, name, p.region, p.region_code)
    return owed


def _anchor(published: list[Published], key: str, manual: dict[str, str]) -> int | None:
    """The newest report of ``key`` or of a body it took over from: what a missing-report
    event points at (an event needs a report; the agency's reports are where a reader goes)."""
    mine = [p for p in published if _heir(p.key, manual) == key]
    return max(mine, key=lambda p: (p.year, p.report_id)).report_id if mine else None


def evaluate(session: Session, *, now: datetime, grace_days: int) -> dict[str, Any]:
    """Re-evaluate every expectation as of ``now``; returns counts by status and events written."""
    identified = identify(session)
    today = now.astimezone(CHINA).date()
    manual = links(session)
    counts: dict[str, int] = defaultdict(int)
    for source in session.scalars(select(Source).order_by(Source.id)):
        for row in _evaluate_source(session, source, today, now, grace_days, manual):
            counts[row] += 1
    session.flush()
    return {**dict(counts), "keyed": identified.keyed, "unresolved_regions": identified.unresolved,
            "warnings": identified.warnings[:20]}


def _evaluate_source(session: Session, source: Source, today: date, now: datetime, grace: int,
                     manual: dict[str, str]) -> list[str]:
    published = _published(session, source.id)
    code = source_code(source)
    if not published:
        return []
    existing = {(e.agency_key, e.report_year): e for e in
                session.scalars(select(Expectation).where(Expectation.source_id == source.id))}
    by_key_year: dict[tuple[str, int], list[Published]] = defaultdict(list)
    for p in published:
        by_key_year[(p.key, p.year)].append(p)
    outcomes: list[str] = []
    for year in range(min(p.year for p in published), today.year):
        for owed in _owed(source, code, published, year, manual).values():
            row = existing.pop((owed.key, year), None) or Expectation(source_id=source.id, agency_key=owed.key,
                                                                     report_year=year, alerted=[])
            _apply(row, owed, by_key_year.get((owed.key, year), []), today, now, grace)
            if row.id is None:
                session.add(row)
                session.flush()
            outcomes.append(row.status)
            _alert(session, row, published, manual, today, now, grace)
    for stale in existing.values():  # keys merged away or years no longer owed
        session.delete(stale)
    return outcomes


def _apply(row: Expectation, owed: _Owed, reports: list[Published], today: date, now: datetime, grace: int) -> None:
    due = deadline(row.report_year, government=is_government(owed.key))
    status, report, days_late = _status(reports, due, today, grace)
    row.agency, row.region, row.region_code = (report.agency if report else owed.agency), owed.region, owed.region_code
    row.kind = "government" if is_government(owed.key) else "department"
    row.deadline, row.status, row.days_late = due.isoformat(), status, days_late
    row.report_id = report.report_id if report else None
    row.published_at = report.on.isoformat() if report else None
    row.evaluated_at = now


def _alert(session: Session, row: Expectation, published: list[Published], manual: dict[str, str],
           today: date, now: datetime, grace: int) -> None:
    if row.status not in ALERT_KINDS or row.status in (row.alerted or []):
        return
    if today - (date.fromisoformat(row.deadline) + timedelta(days=grace)) > ALERT_WINDOW:
        return
    report_id = row.report_id or _anchor(published, row.agency_key, manual)  # None: a body that never published
    session.add(ChangeEvent(report_id=report_id, kind=row.status, created_at=now, details=event_details(row)))
    row.alerted = [*(row.alerted or []), row.status]


def event_details(row: Expectation) -> dict[str, Any]:
    """What a missing/late event says about its expectation (the digest and matching read it)."""
    return {"expectation_id": row.id, **as_record(row)}


def as_record(row: Expectation) -> dict[str, Any]:
    """An expectation as the CLI, the web and the exports show it (:data:`COLUMNS`)."""
    return {name: getattr(row, name) for name in COLUMNS}


def _where(query: Select[Any], year: int | None, region: str, region_code: str, status: str) -> Select[Any]:
    """``region`` is a 省/市/县 prefix by whole parts, ``region_code`` a division code prefix."""
    if year is not None:
        query = query.where(Expectation.report_year == year)
    if region:
        prefix = region.strip("/")
        query = query.where((Expectation.region == prefix) | Expectation.region.startswith(prefix + "/", autoescape=True))
    if region_code:
        query = query.where(Expectation.region_code.startswith(region_code, autoescape=True))
    if status:
        query = query.where(Expectation.status == status)
    return query


def expectations(session: Session, *, year: int | None = None, region: str = "", region_code: str = "",
                 status: str = "", limit: int | None = None, offset: int = 0) -> list[Expectation]:
    """Stored expectations, filtered (see :func:`_where`), in region, year and key order."""
    query = select(Expectation).order_by(Expectation.region_code, Expectation.report_year, Expectation.agency_key)
    query = _where(query, year, region, region_code, status).offset(offset).limit(limit)
    return list(session.scalars(query))


def tally(session: Session, *, year: int | None = None, region: str = "", region_code: str = "",
          status: str = "") -> dict[tuple[str, str], int]:
    """How many expectations per (region, status): counts and charts without loading the rows."""
    query = select(Expectation.region, Expectation.status, func.count()).group_by(Expectation.region, Expectation.status)
    return {(r, s): n for r, s, n in session.execute(_where(query, year, region, region_code, status))}
