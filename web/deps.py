"""Request plumbing shared by pages and API: the archive session, search parameters, ids, admin auth.

Parameters are checked here, at the edge, so that nothing a client types reaches the database
as a value it cannot hold: ids and version numbers fit the INTEGER columns (PostgreSQL's are
32-bit), years and pages are bounded, and text has no control characters (see
web.middleware.RejectControlCharacters for the URL, ``Text`` for JSON bodies).
"""
from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request
from pydantic import AfterValidator
from sqlalchemy.orm import Session

from storage.search import SORTS, SearchQuery
from web.middleware import has_control_characters

PER_PAGE_MAX = 100
PAGE_MAX = 10_000  # searches count at most storage.search.COUNT_CAP hits; deeper pages are empty anyway
YEARS = (1900, 2100)
DB_INT_MAX = 2**31 - 1

RowId = Annotated[int, Path(ge=1, le=DB_INT_MAX, description="A stable id or version number (1, 2, ...).")]


def _printable(value: str) -> str:
    if has_control_characters(value):
        raise ValueError("control characters are not allowed")
    return value


#: A string from a JSON body: no control characters or lone surrogates (which the databases refuse).
Text = Annotated[str, AfterValidator(_printable)]


def get_session(request: Request) -> Iterator[Session]:
    """A read session per request (the public side never writes)."""
    with request.app.state.db.session() as session:
        yield session


def base_url(request: Request) -> str:
    """The prefix of absolute links: ``Settings.base_url``, else "" (links are root-relative).

    The ``Host`` header is never used: it is whatever the client sent, and echoing it into
    API URLs, citations or redirects would let anyone poison them (or a cache in front).
    Set ``base_url`` (``OGI_BASE_URL``) for absolute URLs in the API and citations.
    """
    return request.app.state.settings.base_url.rstrip("/")


def _int(value: str | None, name: str, low: int, high: int) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except ValueError:
        raise HTTPException(400, f"{name} must be a whole number, got {value!r}") from None
    if not low <= number <= high:
        raise HTTPException(400, f"{name} must be from {low} to {high}")
    return number


def search_query(
    q: str = Query("", max_length=200, description="Words to find in report text (space = AND); 1-2 Chinese characters work."),
    region: str = Query("", max_length=200, description="Region hierarchy prefix: 省, 省/市 or 省/市/县."),
    year: str = Query("", description=f"Report year (the year reported on), {YEARS[0]}-{YEARS[1]}."),
    agency: str = Query("", max_length=200, description="Part of the publishing body's name."),
    template: str = Query("", pattern="^(|2019|2021|legacy)$", description="Table template: 2019, 2021 or legacy."),
    failing: str = Query("", max_length=40, description="'any' or a rule id (R1-balance ...): reports failing it."),
    ocr: str = Query("", pattern="^(|yes|no)$", description="yes: only reports read by OCR from scans (review their values); "
                     "no: only born-digital ones."),
    sort: str = Query("archived", description="One of: " + ", ".join(f"{k} ({v})" for k, v in SORTS.items())),
    page: str = Query("1", description=f"Page number, from 1 to {PAGE_MAX}."),
    per_page: str = Query("20", description=f"Results per page, from 1 to {PER_PAGE_MAX}."),
) -> SearchQuery:
    if sort not in SORTS:
        raise HTTPException(400, f"sort must be one of {', '.join(SORTS)}")
    return SearchQuery(
        q=q, region=region.strip(), year=_int(year, "year", *YEARS), agency=agency.strip(), template=template,
        failing=failing.strip(), ocr=ocr, sort=sort, page=_int(page, "page", 1, PAGE_MAX) or 1,
        per_page=_int(per_page, "per_page", 1, PER_PAGE_MAX) or 20,
    )


def require_admin(request: Request) -> None:
    """``Authorization: Bearer <Settings.admin_token>``; admin is off while no token is set.

    A client with too many wrong tokens in a minute is refused (429) before its token is even
    compared, so the right one cannot be found by guessing (web.ratelimit).
    """
    token = request.app.state.settings.admin_token
    if not token:
        raise HTTPException(403, "admin endpoints are disabled: set OGI_ADMIN_TOKEN")
    limiter, client = request.app.state.admin_failures, request.client.host if request.client else ""
    wait = limiter.retry_after(client)
    if wait:
        raise HTTPException(429, "too many wrong admin tokens; try again later", headers={"Retry-After": str(wait)})
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), token.encode()):
        limiter.failed(client)
        raise HTTPException(401, "a valid 'Authorization: Bearer <token>' header is required",
                            headers={"WWW-Authenticate": "Bearer"})


SessionDep = Depends(get_session)
QueryDep = Depends(search_query)
AdminDep = Depends(require_admin)
