"""The cross-year rules (R8, R9) where the archive is at hand: after a version is stored.

A report is checked against the same agency's report of the year before; and since that
one may arrive later (a crawl finds 2023 after 2024), storing a version also re-checks the
next year's report against it. Without the other year the rules are stored as "not checked"
(``ok`` null, the detail says which year is missing), never as passed.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import Row, delete, insert, select
from sqlalchemy.orm import Session

from pipelines.checks import cross_year
from storage.models import CheckResult, ExtractedValue, ReportVersion

RULES = ("R8-year-in-force", "R9-year-carried")


def check_around(session: Session, version: ReportVersion, values: dict[str, float | None]) -> list[dict[str, Any]]:
    """R8/R9 of ``version`` (whose cells are ``values``) against the year before, for the caller to store
    with its other checks; the next year's report, when archived, is re-checked against it here.

    Reads and writes plain rows, not ORM objects: it runs for every extracted version, and the
    candidates of a common agency name (``…人民政府``) are many.
    """
    if not version.agency or version.report_year is None:
        return []
    previous = _latest(session, version, version.report_year - 1)
    following = _latest(session, version, version.report_year + 1)
    if following is not None:
        session.execute(delete(CheckResult).where(CheckResult.version_id == following.id, CheckResult.rule.in_(RULES)),
                        execution_options={"synchronize_session": False})
        session.execute(insert(CheckResult), [
            {"version_id": following.id, **result}
            for result in cross_year(_values(session, following.id), values, year=version.report_year + 1,
                                     agency=following.agency)])
    return cross_year(values, _values(session, previous.id) if previous is not None else None,
                      year=version.report_year, agency=version.agency)


def _latest(session: Session, version: ReportVersion, year: int) -> Row | None:
    """The newest extracted version of the same agency's report for ``year`` (its id, agency and region)."""
    candidates = session.execute(
        select(ReportVersion.id, ReportVersion.agency, ReportVersion.region)
        .where(ReportVersion.report_year == year, ReportVersion.extraction_status == "done",
               ReportVersion.agency.like(f"%{version.agency[-4:]}"))
        .order_by(ReportVersion.fetched_at.desc(), ReportVersion.id.desc())
    )
    return next((c for c in candidates if same_agency(c, version)), None)


def same_agency(a: ReportVersion, b: ReportVersion) -> bool:
    """One body in two years: the same name, or one name the other with its place in front
    (洪泽区人民政府 / 淮安市洪泽区人民政府), in one region (one region path may be the other's
    tail: ``洪泽区`` / ``淮安市/洪泽区``, as the text names more or fewer levels)."""
    return _same_tail(a.region, b.region, "/") and _same_tail(a.agency, b.agency, "") and \
        min(len(a.agency), len(b.agency)) > len("人民政府")


def _same_tail(x: str, y: str, sep: str) -> bool:
    """Equal, or the longer one ends with the shorter (at a ``sep`` boundary); empty matches anything."""
    short, long = sorted((x or "", y or ""), key=len)
    return not short or long == short or long.endswith(sep + short if sep else short)


def _values(session: Session, version_id: int) -> dict[str, float | None]:
    return dict(session.execute(select(ExtractedValue.key, ExtractedValue.value)
                                .where(ExtractedValue.version_id == version_id).order_by(ExtractedValue.id)).all())
