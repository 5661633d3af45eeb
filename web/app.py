"""The research web UI and JSON API: ``create_app(settings)`` builds a FastAPI application.

Public routes only read. Admin routes need ``Authorization: Bearer <Settings.admin_token>``
(wrong tokens are rate-limited per client). Errors have one shape (web/errors.py):
``{"ok": false, "error", "status"}`` under ``/api``, an HTML page elsewhere, unexpected ones
included. Every response carries security headers, HEAD works on every GET route and URLs
with control characters are refused (web/middleware.py). Absolute URLs come only from
``Settings.base_url``, never from the ``Host`` header (web.deps.base_url). OpenAPI is at
``/openapi.json`` and a vendored Swagger UI at ``/docs`` (no CDN: the machines serving this may
have no internet; set up by /static/docs.js, as pages have no inline script). On start, and every
``SEARCH_SYNC_SECONDS`` after, versions queued for the search index are indexed
(see storage/search.py), so search is current even when a writer did not index.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from domain.config import Settings
from flow.after_crawl import after_crawl
from storage.blobs import BlobStore
from storage.db import Database
from storage.search import compact_index
from web import admin, api, compliance, downloads, errors, pages
from web.cache import TTLCache
from web.middleware import HeadAsGet, RejectControlCharacters, SecurityHeaders
from web.ratelimit import FailureLimiter

logger = logging.getLogger(__name__)
HERE = Path(__file__).parent
SEARCH_SYNC_SECONDS = 30


def _sync(db: Database, settings: Settings) -> None:
    """The after-crawl flow's search-index step (versions written by a writer that did not index
    them), then a bounded merge of the index's segments."""
    try:
        after_crawl(db, settings, steps=("index",))
        with db.session() as session:
            compact_index(session)
    except Exception:
        logger.exception("search index sync failed; will retry")


async def _sync_forever(db: Database, settings: Settings) -> None:
    while True:
        await asyncio.sleep(SEARCH_SYNC_SECONDS)
        await asyncio.to_thread(_sync, db, settings)


def create_app(settings: Settings, db: Database | None = None) -> FastAPI:
    """The application for ``settings`` (or an already opened ``db``)."""
    database = db or Database(settings.db_url)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(_sync, database, settings)
        task = asyncio.create_task(_sync_forever(database, settings))
        yield
        task.cancel()

    # No trailing-slash redirects: Starlette builds their Location from the Host header.
    app = FastAPI(title="ogi-archive", version="1", docs_url=None, redoc_url=None, lifespan=lifespan, redirect_slashes=False,
                  description="Chinese government information disclosure annual reports (政府信息公开工作年度报告): "
                              "search, reports with their tables and versions, dataset exports.")
    app.state.settings, app.state.db = settings, database
    app.state.blobs = BlobStore(settings.blob_dir)
    app.state.cache = TTLCache(60)
    app.state.admin_failures = FailureLimiter()
    app.state.templates = _templates()
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (api, downloads, admin, pages, compliance):
        app.include_router(module.router)

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        return pages.render(request, "docs.html")

    errors.install(app)  # innermost middleware: the ones below see its 500s
    for middleware in (RejectControlCharacters, HeadAsGet, SecurityHeaders):  # each added one wraps the last
        app.add_middleware(middleware)
    return app


def is_http_url(value: object) -> bool:
    """Whether a stored URL may be a link: only http(s). A ``javascript:``, ``data:`` or
    ``vbscript:`` URL (or anything else a portal or an attacker put there) is shown as text."""
    return isinstance(value, str) and value.lower().startswith(("http://", "https://"))


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.tests["http_url"] = is_http_url
    return templates
