"""Request plumbing shared by pages and API: the archive session and the search parameters."""
from __future__ import annotations

import secrets
from collections.abc import Iterator

from fastapi import Depends, HTTPException, Query, Request
from sqlalchemy.orm import Session

from storage.search import SORTS, SearchQuery

PER_PAGE_MAX = 100


def get_session(request: Request) -> Iterator[Session]:
    """A read session per request (the public side never writes)."""
    with request.app.state.db.session() as session:
        yield session


def _int(value: str | None, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise HTTPException(400, f"{name} must be a whole number, got {value!r}") from None


def search_query(
    q: str = Query("", max_length=200, description="Words to find in report text (space = AND); 1-2 Chinese characters work too."),
    region: str = Query("", max_length=200, description="Region hierarchy prefix: 省, 省/市 or 省/市/县."),
    year: str = Query("", description="Report year (the year reported on)."),
    agency: str = Query("", max_length=200, description="Part of the publishing body's name."),
    template: str = Query("", pattern="^(|2019|2021|legacy)$", description="Table template: 2019, 2021 or legacy."),
    failing: str = Query("", max_length=40, description="'any' or a rule id (R1-balance ...): reports failing it."),
    sort: str = Query("archived", description="One of: " + ", ".join(f"{k} ({v})" for k, v in SORTS.items())),
    page: str = Query("1", description="Page number, from 1."),
    per_page: str = Query("20", description=f"Results per page (max {PER_PAGE_MAX})."),
) -> SearchQuery:
    if sort not in SORTS:
        raise HTTPException(400, f"sort must be one of {', '.join(SORTS)}")
    return SearchQuery(
        q=q, region=region.strip(), year=_int(year, "year"), agency=agency.strip(), template=template,
        failing=failing.strip(), sort=sort, page=max(1, _int(page, "page") or 1),
        per_page=min(PER_PAGE_MAX, max(1, _int(per_page, "per_page") or 20)),
    )


def require_admin(request: Request) -> None:
    """``Authorization: Bearer <Settings.admin_token>``; admin is off while no token is set."""
    token = request.app.state.settings.admin_token
    if not token:
        raise HTTPException(403, "admin endpoints are disabled: set OGI_ADMIN_TOKEN")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), token.encode()):
        raise HTTPException(401, "a valid 'Authorization: Bearer <token>' header is required",
                            headers={"WWW-Authenticate": "Bearer"})


SessionDep = Depends(get_session)
QueryDep = Depends(search_query)
AdminDep = Depends(require_admin)
