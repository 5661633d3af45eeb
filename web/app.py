"""The research web UI and JSON API: ``create_app(settings)`` builds a FastAPI application.

Public routes only read. Admin routes need ``Authorization: Bearer <Settings.admin_token>``.
Errors have one shape: ``{"ok": false, "error", "status"}`` under ``/api``, an HTML page
elsewhere. OpenAPI is at ``/openapi.json`` and a vendored Swagger UI at ``/docs`` (no CDN:
the machines serving this may have no internet). On start, and every
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
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException

from ogi.config import Settings
from storage.blobs import BlobStore
from storage.db import Database
from storage.search import compact_index, sync_index
from web import admin, api, downloads, pages
from web.cache import TTLCache

logger = logging.getLogger(__name__)
HERE = Path(__file__).parent
SEARCH_SYNC_SECONDS = 30


def _sync(db: Database) -> None:
    try:
        with db.session() as session:
            sync_index(session)
        with db.session() as session:
            compact_index(session)
    except Exception:  # a locked or unreachable database must not take the web server down
        logger.exception("search index sync failed; will retry")


async def _sync_forever(db: Database) -> None:
    while True:
        await asyncio.sleep(SEARCH_SYNC_SECONDS)
        await asyncio.to_thread(_sync, db)


def create_app(settings: Settings, db: Database | None = None) -> FastAPI:
    """The application for ``settings`` (or an already opened ``db``)."""
    database = db or Database(settings.db_url)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(_sync, database)
        task = asyncio.create_task(_sync_forever(database))
        yield
        task.cancel()

    app = FastAPI(title="ogi-archive", version="1", docs_url=None, redoc_url=None, lifespan=lifespan,
                  description="Chinese government information disclosure annual reports (政府信息公开工作年度报告): "
                              "search, reports with their tables and versions, dataset exports.")
    app.state.settings, app.state.db = settings, database
    app.state.blobs = BlobStore(settings.blob_dir)
    app.state.cache = TTLCache(60)
    app.state.templates = Jinja2Templates(directory=HERE / "templates")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (api, downloads, admin, pages):
        app.include_router(module.router)
    _errors(app)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title="ogi-archive API",
            swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
            swagger_ui_parameters={"validatorUrl": None},  # the default badge calls validator.swagger.io
        )

    return app


def _errors(app: FastAPI) -> None:
    def respond(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        if request.url.path.startswith("/api/") or request.url.path == "/openapi.json":
            return JSONResponse({"ok": False, "error": message, "status": status}, status_code=status, headers=headers)
        return request.app.state.templates.TemplateResponse(
            request, "error.html", {"status": status, "message": message}, status_code=status, headers=headers)

    @app.exception_handler(HTTPException)  # FastAPI's and Starlette's (404 for unknown paths)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return respond(request, exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        return respond(request, 400, problems or "invalid request")
