"""Which change events a subscription wants.

Events are loaded once per send as small :class:`EventView` records (report fields, the
version's text only when some subscriber filters by keyword, whether a rule failed) and
then matched in Python against each subscription, so the rules are the same on SQLite and
PostgreSQL and are unit-testable without a database.

An event whose version is still waiting for extraction is *deferred*, not judged: its
keyword, checks and figures are not known yet. It is matched on a later send, unless it
has waited longer than :data:`DEFER_LIMIT` (a stuck extraction must not hold alerts back
for ever).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased, defer

from alerts.subscriptions import COMPLIANCE_EVENTS, Filters
from domain.chinese import normalize_label
from storage.models import ChangeEvent, CheckResult, Report, ReportVersion, Subscription

DEFER_LIMIT = timedelta(days=1)


@dataclass
class EventView:
    """What matching needs to know about one change event."""

    event_id: int
    kind: str
    region: str
    agency: str
    year: int | None
    extraction_pending: bool
    created_at: datetime
    failing: bool = False
    text: str = ""  # normalize_label()d, only loaded when a subscriber filters by keyword


def region_matches(prefix: str, region: str) -> bool:
    """Whole-part prefix: 浙江省/杭州市 matches 浙江省/杭州市/富阳区 but not 浙江省/杭州市郊."""
    return region == prefix or region.startswith(prefix + "/")


def matches(filters: Filters, view: EventView) -> bool:
    """Does this event's report pass every filter that is set?"""
    if filters.region and not region_matches(filters.region, view.region):
        return False
    if filters.agency and filters.agency.casefold() not in view.agency.casefold():
        return False
    if filters.year is not None and view.year != filters.year:
        return False
    if filters.keyword and normalize_label(filters.keyword).casefold() not in view.text:
        return False
    return not filters.failing_only or view.failing


def is_deferred(view: EventView, now: datetime) -> bool:
    return view.kind != "withdrawn" and view.extraction_pending and now - view.created_at < DEFER_LIMIT


def load_events(session: Session, after_id: int, *, with_text: bool) -> list[EventView]:
    """Every event with id > ``after_id``, oldest first, as EventViews.

    A withdrawal event may carry no version; its report's latest version stands in.
    """
    other = aliased(ReportVersion)
    latest = select(func.max(other.id)).where(other.report_id == ChangeEvent.report_id).correlate(ChangeEvent).scalar_subquery()
    version_id = func.coalesce(ChangeEvent.version_id, latest)
    rows = session.execute(
        select(ChangeEvent, Report, ReportVersion)
        .outerjoin(Report, Report.id == ChangeEvent.report_id)
        .outerjoin(ReportVersion, ReportVersion.id == version_id)
        .where(ChangeEvent.id > after_id)
        .order_by(ChangeEvent.id)
        .options(*(() if with_text else (defer(ReportVersion.text),)), defer(ReportVersion.sections))
    ).all()
    failing = set(session.scalars(
        select(CheckResult.version_id).distinct()
        .where(CheckResult.ok.is_(False), CheckResult.version_id.in_(select(version_id).where(ChangeEvent.id > after_id)))
    ))
    return [_view(event, report, version, failing, with_text) for event, report, version in rows]


def _view(event: ChangeEvent, report: Report | None, v: ReportVersion | None, failing: set[int], with_text: bool) -> EventView:
    if event.kind in COMPLIANCE_EVENTS:
        # About the expectation, not the report it points at (for a missing report: last year's).
        d = event.details or {}
        return EventView(event_id=event.id, kind=event.kind, region=d.get("region") or "", agency=d.get("agency") or "",
                         year=d.get("report_year"), extraction_pending=False, created_at=event.created_at)
    assert report is not None, event.id  # only a missing event may lack a report
    return EventView(
        event_id=event.id, kind=event.kind,
        region=report.region or (v.region if v else ""),
        agency=report.agency or (v.agency if v else ""),
        year=report.report_year or (v.report_year if v else None),
        extraction_pending=bool(v and v.extraction_status == "pending"),
        created_at=event.created_at,
        failing=bool(v and v.id in failing),
        text=normalize_label(v.text).casefold() if (with_text and v and v.text) else "",
    )


@dataclass
class Selection:
    """The events one subscription should be sent now, and how far its watermark may move."""

    event_ids: list[int]
    watermark: int


def select_for(sub: Subscription, views: Iterable[EventView], now: datetime, claimed: set[int] = frozenset()) -> Selection:
    """Matching events after the subscription's watermark, minus those ``claimed`` already.

    The watermark stops before the first deferred event, so events after it that were
    claimed meanwhile come round again: ``claimed`` keeps them out.
    """
    filters = Filters.from_dict(sub.filters)
    wanted = set(sub.events or ())
    chosen: list[int] = []
    watermark = sub.since_event_id
    blocked = False
    for view in views:
        if view.event_id <= sub.since_event_id:
            continue
        if view.event_id not in claimed and is_deferred(view, now):
            blocked = True
            continue
        if view.event_id not in claimed and view.kind in wanted and matches(filters, view):
            chosen.append(view.event_id)
        if not blocked:
            watermark = view.event_id
    return Selection(chosen, watermark)
