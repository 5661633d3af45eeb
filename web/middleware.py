"""ASGI middleware every response passes through: security headers, HEAD, hostile URLs.

Pure ASGI rather than ``BaseHTTPMiddleware``, so streamed exports stay streamed.
"""
from __future__ import annotations

import re

from fastapi import Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.errors import error_response

#: Pages load scripts, styles, fonts and data only from this origin, and no page has inline
#: script or style (the charts and the Swagger UI set up from files in /static): an injected
#: ``<script>`` or ``onerror=`` cannot run even if escaping ever failed. ``data:`` images are
#: Swagger UI's icons.
PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
               "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
#: Everything else (JSON, CSV, static files) is data, never a document: nothing may load or frame it.
DATA_POLICY = "default-src 'none'; frame-ancestors 'none'"
COMMON = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"}

# C0 and C1 controls (tab, CR and LF are whitespace in a search), DEL, and lone surrogates.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds characters no archive value contains and databases refuse (NUL)."""
    return bool(CONTROL.search(text))


class SecurityHeaders:
    """``COMMON`` on every response, and a Content-Security-Policy unless the route set its own
    (archived originals are served with ``sandbox``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in COMMON.items():
                    headers.setdefault(name, value)
                html = headers.get("content-type", "").startswith("text/html")
                headers.setdefault("Content-Security-Policy", PAGE_POLICY if html else DATA_POLICY)
            await send(message)

        await self.app(scope, receive, add_headers if scope["type"] == "http" else send)


class HeadAsGet:
    """HEAD on any GET route: the GET response's status and headers, without its body.

    FastAPI routes answer only the methods they declare (HEAD gave 405). The GET still runs,
    as most servers do for HEAD, so the headers (length, type, ETag) are exactly the GET's.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] != "http.response.body":
                await send(message)
            elif not message.get("more_body", False):
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        await self.app({**scope, "method": "GET"}, receive, headers_only)


class RejectControlCharacters:
    """400 for a path or query parameter with control characters, before any route sees it.

    A NUL reached SQLite's FTS5 ("unterminated string") and PostgreSQL (which refuses NUL in
    text) as a 500; no report, region or token contains one, so refusing is safe everywhere.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request = Request(scope)
            values = [scope["path"], *(text for item in request.query_params.multi_items() for text in item)]
            if any(has_control_characters(v) for v in values):
                response = error_response(request, 400, "control characters are not allowed in the URL")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
