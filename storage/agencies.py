"""Region codes and agency keys on reports, and the manual corrections of agency identity.

:func:`identify` gives every report whose metadata is known a ``region_code`` (its region
resolved against the gazetteer, inside the source's own region so that 朝阳区 lands in the
right province) and an ``agency_key`` (domain.agencies), then applies the corrections
people made with ``ogi agencies``. Corrections are rows, never edits of reports alone: each
can be listed and undone, and identify() re-applies whatever is in force, so a report
recorded after a merge gets the merged key too.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from domain.agencies import agency_key
from domain.gazetteer import resolve
from storage.models import AgencyCorrection, Report, Source, utcnow

logger = logging.getLogger(__name__)

ACTIONS = ("merge", "split", "link")


class CorrectionError(ValueError):
    """A correction that cannot be made (unknown key or report, a key merged into itself)."""


@dataclass
class Identified:
    """What :func:`identify` did: reports keyed, regions left unresolved (with why)."""

    keyed: int = 0
    unresolved: int = 0
    warnings: list[str] = field(default_factory=list)


def source_code(source: Source | None) -> str | None:
    """The source's own region as a division code, None when it has none the gazetteer knows."""
    return resolve(source.region).code if source is not None and source.region else None


def region_code(region: str, within: str | None) -> tuple[str, list[str]]:
    """(code or "" when unresolved, warnings) of a report's region path."""
    if not region:
        return within or "", []
    found = resolve(region, within=within)
    return found.code or within or "", found.warnings


def _active(session: Session) -> list[AgencyCorrection]:
    return list(session.scalars(select(AgencyCorrection).where(AgencyCorrection.reverted_at.is_(None))
                                .order_by(AgencyCorrection.id)))


def corrected_key(report: Report, auto: str, corrections: list[AgencyCorrection]) -> str:
    """``auto`` after the corrections in force: a split of this report wins, then merges (in order)."""
    for c in reversed(corrections):
        if c.action == "split" and c.report_id == report.id:
            return c.to_key
    key = auto
    for c in corrections:
        if c.action == "merge" and c.from_key == key:
            key = c.to_key
    return key


def identify(session: Session, *, everything: bool = False) -> Identified:
    """Key the reports that have no key yet (``everything``: all, after a correction)."""
    result = Identified()
    corrections = _active(session)
    codes: dict[int | None, str | None] = {}
    query = select(Report)
    if not everything:
        query = query.where(or_(Report.agency_key.is_(None), Report.region_code.is_(None)))
    for report in session.scalars(query):
        if report.source_id not in codes:
            codes[report.source_id] = source_code(session.get(Source, report.source_id) if report.source_id else None)
        if report.region_code is None and (report.region or codes[report.source_id]):
            # Resolved once (a report waiting for its agency is not warned about every night).
            report.region_code, warnings = region_code(report.region, codes[report.source_id])
            result.unresolved += bool(warnings)
            result.warnings.extend(f"report {report.id}: {w}" for w in warnings)
            for warning in warnings:
                logger.warning("report %d: %s", report.id, warning)
        if report.agency:
            report.agency_key = corrected_key(report, agency_key(report.agency, report.region_code or None), corrections)
            result.keyed += 1
    session.flush()
    return result


def _known_key(session: Session, key: str) -> None:
    if session.scalar(select(Report.id).where(Report.agency_key == key).limit(1)) is None:
        raise CorrectionError(f"no report has the agency key {key!r} (see `ogi agencies list`)")


def correct(session: Session, action: str, from_key: str, to_key: str, *, report_ids: tuple[int, ...] = (),
            reason: str = "") -> list[AgencyCorrection]:
    """Record a correction (one row per report for a split) and re-key the archive."""
    if action not in ACTIONS:
        raise CorrectionError(f"action must be one of {', '.join(ACTIONS)}")
    if from_key == to_key:
        raise CorrectionError("the two keys are the same")
    _known_key(session, from_key)
    if action == "split":
        if not report_ids:
            raise CorrectionError("a split names the reports that move (--report ID)")
        bad = [rid for rid in report_ids if (r := session.get(Report, rid)) is None or r.agency_key != from_key]
        if bad:
            raise CorrectionError(f"reports {bad} do not have the key {from_key!r}")
    rows = [AgencyCorrection(action=action, from_key=from_key, to_key=to_key, report_id=rid, reason=reason)
            for rid in (report_ids if action == "split" else (None,))]
    session.add_all(rows)
    session.flush()
    identify(session, everything=True)
    return rows


def undo(session: Session, correction_id: int) -> AgencyCorrection:
    """Revert a correction (kept, with ``reverted_at``) and re-key the archive."""
    row = session.get(AgencyCorrection, correction_id)
    if row is None or row.reverted_at is not None:
        raise CorrectionError(f"no correction {correction_id} in force (see `ogi agencies corrections`)")
    row.reverted_at = utcnow()
    session.flush()
    identify(session, everything=True)
    return row


def links(session: Session) -> dict[str, str]:
    """Manual links in force: predecessor key -> successor key (``ogi agencies link``)."""
    return {c.from_key: c.to_key for c in _active(session) if c.action == "link"}
