"""HTML pages: search, report (tables, history, diffs), dataset (exports, codebook, charts), unsubscribe.

Templates are Jinja2 with autoescaping; report text is only ever shown escaped, stored URLs
are links only when they are http(s) (``is http_url``, web/app.py), and archived HTML
originals are downloaded as sandboxed attachments, never rendered in our origin.
"""
from __future__ import annotations

import re
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from domain.schema import SECTION_HEADINGS, SECTIONS
from storage.blobs import sha256_hex
from storage.diff import version_diff
from storage.exports import codebook, codebook_rules
from storage.replay import replay_url
from storage.search import SORTS, SearchQuery, search
from web import data
from web.deps import QueryDep, RowId, SessionDep, base_url

router = APIRouter(include_in_schema=False)


def render(request: Request, name: str, status_code: int = 200, **context: object) -> HTMLResponse:
    templates = request.app.state.templates
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def qs(query: SearchQuery, **changes: object) -> str:
    """The query string of ``query`` with ``changes`` (pagination and export links)."""
    return urlencode(query.params(**changes))


@router.get("/", response_class=HTMLResponse)
def search_page(request: Request, query: SearchQuery = QueryDep, session: Session = SessionDep) -> HTMLResponse:
    result = search(session, query)
    cache = request.app.state.cache
    return render(request, "search.html", query=query, result=result, facets=cache.get("facets", lambda: data.facets(session)),
                  sorts=SORTS, qs=qs, stats=cache.get("stats", lambda: data.archive_stats(session)),
                  alternate=f"/api/reports?{qs(query)}")


@router.get("/reports/{report_id}", response_class=HTMLResponse)
def report_page(request: Request, report_id: RowId, session: Session = SessionDep) -> HTMLResponse:
    return _report(request, session, report_id, None)


@router.get("/reports/{report_id}/versions/{version}", response_class=HTMLResponse)
def report_version_page(request: Request, report_id: RowId, version: RowId, session: Session = SessionDep) -> HTMLResponse:
    return _report(request, session, report_id, version)


def _report(request: Request, session: Session, report_id: int, version: int | None) -> HTMLResponse:
    view = data.report_view(session, report_id, version)
    if view is None:
        raise HTTPException(404, f"no report {report_id}" + (f" version {version}" if version else ""))
    replay = request.app.state.settings.replay_base_url
    return render(request, "report.html", view=view, sections=SECTIONS, headings=SECTION_HEADINGS,
                  cite=data.cite(view, base_url(request)), alternate=f"/api/reports/{report_id}?version={view.version.version}",
                  replay={name: replay_url(replay, getattr(view.version, name) or "", view.version.fetched_at)
                          for name in ("source_url", "document_url")})


@router.get("/reports/{report_id}/versions/{version}/diff", response_class=HTMLResponse)
def diff_page(request: Request, report_id: RowId, version: RowId, session: Session = SessionDep) -> HTMLResponse:
    """What changed since the previous version: fields, table values, text (storage.diff)."""
    view = data.report_view(session, report_id, version)
    if view is None or view.previous is None:
        raise HTTPException(404, f"report {report_id} has no version {version} with an earlier one to compare")
    return render(request, "diff.html", view=view, diff=version_diff(session, view.previous, view.version))


@router.get("/reports/{report_id}/versions/{version}/original")
def original(request: Request, report_id: RowId, version: RowId, session: Session = SessionDep) -> Response:
    """The archived bytes, as an attachment with their content type and file name; hash checked."""
    view = data.report_view(session, report_id, version)
    if view is None:
        raise HTTPException(404, f"no report {report_id} version {version}")
    store = request.app.state.blobs
    sha = view.version.sha256
    if not store.exists(sha):
        raise HTTPException(404, f"the original of report {report_id} version {version} is not in the blob store")
    body = store.get(sha)
    if sha256_hex(body) != sha:
        raise HTTPException(500, f"blob {sha} no longer matches its hash; refusing to serve it")
    blob = view.blob
    ctype = (blob.content_type if blob and blob.content_type else view.version.content_type) or "application/octet-stream"
    name = _served_name((blob.filename if blob and blob.filename else view.version.filename) or "")
    headers = {"Content-Disposition": content_disposition(name or _default_name(view, ctype)),
               "Content-Security-Policy": "sandbox; default-src 'none'; frame-ancestors 'none'", "ETag": f'"{sha}"'}
    return Response(body, media_type=ctype, headers=headers)


def _served_name(name: str) -> str:
    """``name`` without control characters (each run becomes a space).

    Names come from portals (Content-Disposition, link text); an old row may hold a CR/LF,
    which in a header made the server drop the response (an empty reply), or worse.
    """
    return " ".join(re.sub(r"[\x00-\x1f\x7f-\x9f]+", " ", name).split())


def content_disposition(name: str) -> str:
    """An attachment header for any ``name``: an ASCII fallback, and the real name per RFC 5987."""
    fallback = re.sub(r'[^\x20-\x7e]|["\\]', "_", name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _default_name(view: data.ReportView, ctype: str) -> str:
    ext = {"text/html": ".html", "application/pdf": ".pdf"}.get(ctype.split(";")[0].strip(), ".bin")
    return f"report-{view.report.id}-v{view.version.version}{ext}"


@router.get("/dataset", response_class=HTMLResponse)
def dataset_page(request: Request, query: SearchQuery = QueryDep, session: Session = SessionDep) -> HTMLResponse:
    result = search(session, SearchQuery(**{**vars(query), "per_page": 1}))
    return render(request, "dataset.html", query=query, total=result.total, capped=result.capped, qs=qs,
                  codebook=codebook(), rules=codebook_rules(), alternate=f"/api/charts?{qs(query)}")


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_form(request: Request, token: str) -> HTMLResponse:
    """A confirmation button: mail scanners that prefetch links must not unsubscribe anyone."""
    return render(request, "unsubscribe.html", token=token, done=None)


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_post(request: Request, token: str, session: Session = SessionDep,
                     list_unsubscribe: str = Form("", alias="List-Unsubscribe")) -> HTMLResponse:
    """Also the RFC 8058 one-click target (``List-Unsubscribe=One-Click``)."""
    from alerts.subscriptions import unsubscribe

    if "@" in token:  # unsubscribe() also takes an address: never from a public URL
        raise HTTPException(404, "unknown unsubscribe link")
    done = unsubscribe(session, token)
    return render(request, "unsubscribe.html", token=token, done=done, status_code=200 if done else 404)
