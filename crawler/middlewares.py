"""Downloader middlewares: scope and trap guard, conditional requests, and recording every exchange.

Order (``DOWNLOADER_MIDDLEWARES`` in :mod:`crawler.settings`): the scope guard runs first
(50), so nothing off-site or trap-like even costs a robots.txt lookup; conditional headers
next (60); the recorder sits at 585, after decompression (590) and before retries (550),
so it archives each attempt's decoded body; redirects are recorded by a thin subclass of
Scrapy's RedirectMiddleware because a 3xx never reaches 585.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
from typing import TYPE_CHECKING, Any

import scrapy.downloadermiddlewares.cookies as scrapy_cookies
from scrapy import signals
from scrapy.downloadermiddlewares.redirect import RedirectMiddleware
from scrapy.exceptions import IgnoreRequest, StopDownload
from tldextract import TLDExtract

from crawler.exchange import Assessment, assess, exception_kind, failure_row
from crawler.scope import host_of, in_domains, trap_reason
from storage.db import url_key
from storage.models import utcnow

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

_FINAL_KINDS = frozenset({"blocked", "too_large", "not_a_document", "truncated"})
BLOCKED_HOST_LIMIT = 5  # consecutive walls from one host before it is left alone

# Scrapy's cookie middleware downloads the public suffix list on first use; a crawler that
# must only talk to the portals it crawls uses the snapshot bundled with tldextract instead.
scrapy_cookies._split_domain = TLDExtract(suffix_list_urls=(), include_psl_private_domains=True)


def _state(crawler: Crawler) -> Any:
    return crawler.spider.state


class ScopeMiddleware:
    """Drop requests off the source's domains, into traps, or to hosts that keep blocking us."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ScopeMiddleware:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        ctx = request.meta.get("ogi")
        if ctx is None:
            return None
        spider = self.crawler.spider
        run = spider.state.runs[ctx["run_id"]]
        why = ""
        if not in_domains(request.url, run.allowed_domains):
            why = "offsite"
        elif trap_reason(request.url):
            why = "trap"
        elif spider.blocked_hosts.get(host_of(request.url), 0) >= BLOCKED_HOST_LIMIT:
            why = "blocked_host"
        if why:
            request.meta["ogi_skip"] = why
            raise IgnoreRequest(f"{why}: {trap_reason(request.url) or request.url}")
        return None


class ConditionalMiddleware:
    """On incremental crawls, ask for known reports only if they changed (ETag / Last-Modified)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ConditionalMiddleware:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        ctx = request.meta.get("ogi")
        state = _state(self.crawler)
        if ctx is None or state.kind != "incremental":
            return None
        etag, last_modified = state.runs[ctx["run_id"]].validators.get(ctx["key"], ("", ""))
        if etag:
            request.headers.setdefault("If-None-Match", etag)
        if last_modified:
            request.headers.setdefault("If-Modified-Since", last_modified)
        return None


def _header_text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("gb18030", "replace")


def _headers(headers: Any) -> list[tuple[str, str]]:
    return [(_header_text(k), _header_text(v)) for k, values in headers.items() for v in values]


def _archive(warc: Any, url: str, method: str, request_headers: Any, status: int,
             response_headers: list[tuple[str, str]], body: bytes) -> dict[str, Any]:
    """Write one exchange to the WARC files (in the state's writer thread); the Fetch row's WARC fields."""
    warc_file, offset = warc.write_exchange(url, method, _headers(request_headers), status, response_headers, body)
    return {"warc_file": warc_file, "warc_offset": offset}


class Recorder:
    """Queue one exchange's Fetch + Document rows and its WARC records (written by the state's writer thread)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        settings = crawler.settings
        self.cap_bytes = settings.getint("OGI_MAX_DOWNLOAD_MB", 50) * 2**20
        self.retry_enabled = settings.getbool("RETRY_ENABLED")
        self.retry_times = settings.getint("RETRY_TIMES")
        self.retry_codes = {int(c) for c in settings.getlist("RETRY_HTTP_CODES")}

    def will_retry(self, request: Request, status: int | None = None) -> bool:
        """Whether RetryMiddleware will try this request again (so this attempt is not the final error)."""
        if not self.retry_enabled or request.meta.get("dont_retry"):
            return False
        if status is not None and status not in self.retry_codes:
            return False
        return request.meta.get("retry_times", 0) < request.meta.get("max_retry_times", self.retry_times)

    def record(self, request: Request, response: Response) -> Assessment:
        spider = self.crawler.spider
        ctx = request.meta.get("ogi") or {}
        headers = _headers(response.headers)
        lower = {k.lower(): v for k, v in headers}
        result = assess(
            response.url, response.status, lower, response.body, role=ctx.get("role", ""),
            flags=tuple(response.flags), cap_bytes=self.cap_bytes, disposition=response.headers.get("Content-Disposition"),
        )
        if result.outcome == "error" and result.error_kind.startswith("http_") and self.will_retry(request, response.status):
            result = dataclasses.replace(result, outcome="retry")
        exchange = (response.url, request.method, request.headers, response.status, headers, response.body)
        now = utcnow()
        digest = hashlib.sha256(response.body).hexdigest()
        run_id = ctx.get("run_id") or spider.default_run_id
        key = url_key(response.url)
        row = {
            "url": response.url, "fetched_at": now, "status": response.status, "headers": dict(lower),
            "content_type": lower.get("content-type", "")[:200], "size": len(response.body), "sha256": digest,
            "outcome": result.outcome, "error_kind": result.error_kind, "error": result.error,
            "warc_file": "", "warc_offset": None,  # filled in by the archive callable below
        }
        document = {
            "url": response.url, "url_key": key, "source_id": spider.state.runs[run_id].source_id,
            "kind": ctx.get("role", "robots") or "page", "content_type": row["content_type"],
            "etag": lower.get("etag", "")[:300], "last_modified": lower.get("last-modified", "")[:100],
            "sha256": digest, "last_status": response.status, "last_seen": now,
        }
        spider.state.fetch(run_id, row, document, archive=lambda: _archive(spider.warc, *exchange))
        if result.outcome == "blocked":
            spider.note_blocked(run_id, response.url, result.error)
        elif spider.blocked_hosts and 200 <= response.status < 400:
            spider.blocked_hosts.pop(host_of(response.url), None)  # the wall is not host-wide
        return result


class RecordMiddleware:
    """Record every response and every failed attempt; stop downloads over the size cap."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.recorder = Recorder(crawler)
        crawler.signals.connect(self.headers_received, signal=signals.headers_received)
        crawler.signals.connect(self.bytes_received, signal=signals.bytes_received)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RecordMiddleware:
        return cls(crawler)

    def headers_received(self, headers: Any, body_length: int, request: Request, spider: Any) -> None:
        if self.recorder.cap_bytes and body_length and body_length > self.recorder.cap_bytes:
            raise StopDownload(fail=False)

    def bytes_received(self, data: bytes, request: Request, spider: Any) -> None:
        if not self.recorder.cap_bytes:
            return
        received = request.meta.get("ogi_bytes", 0) + len(data)
        request.meta["ogi_bytes"] = received
        if received > self.recorder.cap_bytes:
            raise StopDownload(fail=False)

    def process_response(self, request: Request, response: Response) -> Response:
        request.meta.pop("ogi_bytes", None)
        result = self.recorder.record(request, response)
        request.meta["ogi_fetch"] = result
        if result.error_kind in _FINAL_KINDS:
            request.meta["dont_retry"] = True  # retrying a wall or a bad file only repeats it
        return response

    def process_exception(self, request: Request, exception: Exception) -> None:
        if isinstance(exception, IgnoreRequest):
            return None
        request.meta.pop("ogi_bytes", None)
        spider = self.crawler.spider
        ctx = request.meta.get("ogi") or {}
        kind, reason = exception_kind(exception)
        outcome = "retry" if self.recorder.will_retry(request) else "error"
        row = failure_row(request.url, outcome, kind, reason)
        spider.state.fetch(ctx.get("run_id") or spider.default_run_id, row, None)
        request.meta["ogi_error_recorded"] = True
        return None


class RecordingRedirectMiddleware(RedirectMiddleware):
    """Scrapy's redirects, with each 3xx answer archived before it is followed."""

    def process_response(self, request: Request, response: Response, spider: Any = None) -> Any:
        try:
            result = super().process_response(request, response)
        except IgnoreRequest:  # too many redirections: keep the last hop, then give up
            self._record(request, response)
            raise
        if result is not response:
            self._record(request, response)
        return result

    def _record(self, request: Request, response: Response) -> None:
        if not hasattr(self, "recorder"):
            self.recorder = Recorder(self.crawler)
        self.recorder.record(request, response)
