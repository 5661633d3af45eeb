"""One shape for every error: ``{"ok": false, "error", "status"}`` under ``/api`` (and for the
OpenAPI document), an HTML error page elsewhere.

Expected errors are raised as ``HTTPException`` or fail request validation (400). Anything else
is a bug or an outage (database gone, disk error): ``ErrorGuard`` logs it with the request and
answers a 500 in the same shape, so no client ever sees Starlette's plain-text
"Internal Server Error" and no exception text (SQL, paths) leaks into a response.
"""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)


def error_response(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """The error envelope for API clients, the error page for people."""
    if request.url.path.startswith("/api/") or request.url.path == "/openapi.json":
        return JSONResponse({"ok": False, "error": message, "status": status}, status_code=status, headers=headers)
    return request.app.state.templates.TemplateResponse(
        request, "error.html", {"status": status, "message": message}, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    """Route HTTP and validation errors through ``error_response``; guard against the rest."""
    @app.exception_handler(HTTPException)  # FastAPI's and Starlette's (404 for unknown paths)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return error_response(request, exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        return error_response(request, 400, problems or "invalid request")

    app.add_middleware(ErrorGuard)


class ErrorGuard:
    """Last resort: an unexpected exception is logged and answered as a 500 in the error shape.

    A middleware rather than ``exception_handler(Exception)``: Starlette runs that handler
    outside every middleware (so the 500 would lack the security headers) and re-raises
    afterwards. If the response had already started (a streamed export failing half way)
    nothing can be sent any more, and the exception is re-raised so the server drops the
    connection.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            logger.exception("unexpected error answering %s %s", scope["method"], scope["path"])
            if started:
                raise
            response = error_response(Request(scope), 500, "internal error: the archive could not answer this request")
            await response(scope, receive, send)
