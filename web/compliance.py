"""Who has not published: the compliance page per region and year, its JSON twin and CSV.

Reads the expectations the after-crawl flow keeps current (storage/compliance.py); nothing is
evaluated per request, so the page costs one indexed query (report_year, region_code).
``region`` is a 省/市/县 name prefix or, in digits, a GB/T 2260 code prefix (33, 3301).
"""
from __future__ import annotations

import io
from collections import Counter
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.compliance import STATUSES, as_record, expectations, tally
from storage.exports import write_expectations_csv
from storage.models import Expectation
from web.deps import PAGE_MAX, YEARS, SessionDep, _int
from web.pages import render
from web.responses import ERRORS, file_response

router = APIRouter()
PER_PAGE = 200  # rows per page: a national year has tens of thousands; the CSV has them all


class ComplianceQuery:
    """The page's filters, validated at the edge (bad input is a 400 in the error envelope)."""

    def __init__(self, year: str = Query("", description="Report year; default: the latest evaluated."),
                 region: str = Query("", max_length=200, description="省/市/县 prefix, or a division code prefix (33)."),
                 status: str = Query("", pattern="^(|" + "|".join(STATUSES) + ")$", description="Only this status."),
                 page: str = Query("1", description=f"Page of {PER_PAGE} rows, from 1 to {PAGE_MAX}.")) -> None:
        self.year, self.region, self.status = _int(year, "year", *YEARS), region.strip(), status
        self.page = _int(page, "page", 1, PAGE_MAX) or 1

    def filters(self) -> dict[str, str]:
        key = "region_code" if self.region.isdigit() else "region"
        return {key: self.region} if self.region else {}

    def params(self, **changes: object) -> str:
        values = {"year": self.year, "region": self.region, "status": self.status, **changes}
        return urlencode({k: v for k, v in values.items() if v not in (None, "") and (k, v) != ("page", 1)})


def _latest_year(session: Session) -> int:
    return session.scalar(select(func.max(Expectation.report_year))) or date.today().year - 1


def compliance_view(session: Session, query: ComplianceQuery) -> dict[str, Any]:
    """Counts and the per-province chart of the whole selection, and one page of its rows."""
    year = query.year or _latest_year(session)
    counts = tally(session, year=year, status=query.status, **query.filters())
    by_province: dict[str, Counter[str]] = {}
    for (region, status), n in counts.items():
        by_province.setdefault(region.split("/")[0] or "（未知）", Counter())[status] += n
    provinces = sorted(by_province)
    total = sum(counts.values())
    rows = expectations(session, year=year, status=query.status, **query.filters(),
                        limit=PER_PAGE, offset=(query.page - 1) * PER_PAGE)
    return {
        "ok": True, "year": year, "region": query.region, "status": query.status,
        "total": total, "page": query.page, "per_page": PER_PAGE,
        "counts": {s: sum(n for (_, st), n in counts.items() if st == s) for s in STATUSES},
        "chart": {"provinces": provinces,
                  "series": {s: [by_province[p][s] for p in provinces] for s in ("on_time", "late", "missing")}},
        "rows": [as_record(r) for r in rows],
    }


QueryParams = Depends(ComplianceQuery)


@router.get("/compliance", response_class=HTMLResponse, include_in_schema=False)
def compliance_page(request: Request, query: ComplianceQuery = QueryParams, session: Session = SessionDep) -> HTMLResponse:
    view = compliance_view(session, query)
    return render(request, "compliance.html", view=view, statuses=STATUSES, selection=query,
                  alternate=f"/api/compliance?{query.params(year=view['year'])}")


@router.get("/api/compliance", responses=ERRORS,
            summary="Expected reports of a year and region: on time, late, missing, withdrawn")
def compliance_json(query: ComplianceQuery = QueryParams, session: Session = SessionDep) -> dict[str, Any]:
    return compliance_view(session, query)


@router.get("/api/compliance.csv", responses={**ERRORS, **file_response("text/csv")},
            summary="The expectations of a year and region as CSV")
def compliance_csv(query: ComplianceQuery = QueryParams, session: Session = SessionDep) -> Response:
    year = query.year or _latest_year(session)
    buf = io.StringIO()
    write_expectations_csv(expectations(session, year=year, status=query.status, **query.filters()), buf)
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="ogi-compliance-{year}.csv"'})
