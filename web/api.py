"""The JSON API: the same searches, reports and versions as the pages, for scripts.

Identifiers are stable: a report keeps its id whatever URL it moves to, and
(report id, version number) names one archived set of bytes for citation.
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from sqlalchemy.orm import Session

from storage.search import SearchQuery, search
from web import data
from web.deps import DB_INT_MAX, QueryDep, RowId, SessionDep, base_url
from web.responses import ERRORS, Charts, ReportRecord, ReportVersions, SearchPage

router = APIRouter(prefix="/api", tags=["reports"], responses=ERRORS)


@router.get("/reports", response_model=SearchPage, summary="Search reports (full text + filters), one hit per report")
def api_search(request: Request, query: SearchQuery = QueryDep, session: Session = SessionDep) -> dict[str, Any]:
    res = search(session, query)
    base = base_url(request)
    return {
        "ok": True, "total": res.total, "capped": res.capped, "page": query.page, "pages": res.pages,
        "per_page": query.per_page,
        "results": [{
            "report_id": h.report_id, "version": h.version, "title": h.title, "agency": h.agency,
            "region": h.region, "report_year": h.report_year, "template": h.template, "status": h.status,
            "published_at": h.published_at, "failing": h.failing, "ocr": h.ocr, "snippet_html": str(h.snippet),
            "url": f"{base}/reports/{h.report_id}/versions/{h.version}",
            "api_url": f"{base}/api/reports/{h.report_id}?version={h.version}",
        } for h in res.hits],
    }


def _view(session: Session, report_id: int, version: int | None) -> data.ReportView:
    view = data.report_view(session, report_id, version)
    if view is None:
        raise HTTPException(404, f"no report {report_id}" + (f" version {version}" if version else ""))
    return view


@router.get("/reports/{report_id}", response_model=ReportRecord,
            summary="One report version: the export record, cells as printed, citation")
def api_report(request: Request, report_id: RowId, version: int | None = Query(None, ge=1, le=DB_INT_MAX),
               session: Session = SessionDep) -> dict[str, Any]:
    view = _view(session, report_id, version)
    base = base_url(request)
    confidence = (view.version.meta or {}).get("cell_confidence") or {}
    return {
        "ok": True, **view.record(),
        "cells": {k: {"value": v.value, "raw": v.raw, "unit": v.unit, "derived": v.derived, "ocr": v.ocr,
                      "confidence": confidence.get(k)} for k, v in view.values.items()},
        "failed_checks": [{"rule": c.rule, "detail": c.detail, "cells": c.cells, "expected": c.expected, "found": c.found}
                          for c in view.failed],
        "versions": [v.version for v in view.versions],
        "original_url": f"{base}/reports/{report_id}/versions/{view.version.version}/original",
        "cite": data.cite(view, base),
    }


@router.get("/reports/{report_id}/versions", response_model=ReportVersions, summary="Every archived version of a report")
def api_versions(report_id: RowId, session: Session = SessionDep) -> dict[str, Any]:
    view = _view(session, report_id, None)
    return {"ok": True, "report_id": report_id, "status": view.report.status,
            "versions": [data.version_summary(v) for v in view.versions]}


@router.get("/charts", response_model=Charts,
            summary="Chart data for a selection: applications per year, coverage by region and year")
def api_charts(query: SearchQuery = QueryDep, session: Session = SessionDep) -> dict[str, Any]:
    return {"ok": True, "applications": data.application_chart(session, query),
            "coverage": data.coverage_chart(session, query)}
