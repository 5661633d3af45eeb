"""Downloader middlewares: scope and trap guard, conditional requests, and recording every exchange.

Order (``DOWNLOADER_MIDDLEWARES`` in :mod:`crawler.settings`): the scope guard runs first
(50), so nothing off-site or trap-like even costs a robots.txt lookup; conditional headers
next (60); the recorder sits at 585, after decompression (590) and before retries (550),
so it assesses each attempt's decoded body, while the WARC gets the bytes as they came over the
wire (the decompression middleware keeps the encoded body and headers aside); redirects are
recorded by a thin subclass of
Scrapy's RedirectMiddleware because a 3xx never reaches 585. Decompression is Scrapy's,
bounded by the same size cap as the bytes on the wire (:class:`BoundedDecompressionMiddleware`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
from typing import TYPE_CHECKING, Any

import scrapy.downloadermiddlewares.cookies as scrapy_cookies
from scrapy import signals
from scrapy.downloadermiddlewares.cookies import CookiesMiddleware
from scrapy.downloadermiddlewares.httpcompression import HttpCompressionMiddleware
from scrapy.downloadermiddlewares.redirect import RedirectMiddleware
from scrapy.exceptions import IgnoreRequest, StopDownload
from scrapy.utils._compression import _DecompressionMaxSizeExceeded
from tldextract import TLDExtract

from crawler.exchange import Assessment, assess, exception_kind, failure_row
from crawler.scope import host_of, in_domains, trap_reason
from crawler.services import CrawlServices
from storage.db import url_key
from storage.models import utcnow

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

_FINAL_KINDS = frozenset({"blocked", "too_large", "not_a_document", "truncated"})


def cap_bytes(crawler: Crawler) -> int:
    """The download size cap (0: none), for bytes on the wire and for decompressed bytes alike."""
    return crawler.settings.getint("OGI_MAX_DOWNLOAD_MB", 50) * 2**20


class ScopeMiddleware:
    """Drop requests off the source's domains, into traps, or to hosts that keep blocking us."""

    def __init__(self, services: CrawlServices) -> None:
        self.services = services

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ScopeMiddleware:
        return cls(CrawlServices.of(crawler))

    def process_request(self, request: Request) -> None:
        ctx = request.meta.get("ogi")
        if ctx is None:
            return None
        run = self.services.state.runs[ctx["run_id"]]
        why = ""
        if not in_domains(request.url, run.allowed_domains):
            why = "offsite"
        elif trap_reason(request.url):
            why = "trap"
        elif self.services.blocked.left_alone(host_of(request.url)):
            why = "blocked_host"
        if why:
            request.meta["ogi_skip"] = why
            raise IgnoreRequest(f"{why}: {trap_reason(request.url) or request.url}")
        return None


class ConditionalMiddleware:
    """On incremental crawls, ask for known reports only if they changed (ETag / Last-Modified)."""

    def __init__(self, services: CrawlServices) -> None:
        self.services = services

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ConditionalMiddleware:
        return cls(CrawlServices.of(crawler))

    def process_request(self, request: Request) -> None:
        ctx = request.meta.get("ogi")
        state = self.services.state
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


def archive_exchange(warc: Any, url: str, method: str, request_headers: Any, status: int,
                     response_headers: list[tuple[str, str]], body: bytes,
                     warc_headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Write one exchange to the WARC files (in the state's writer thread); the Fetch row's WARC fields.

    ``warc_headers`` go on both records (``WARC-Ogi-Fetched-By`` for what came through a browser).
    """
    warc_file, offset = warc.write_exchange(url, method, _headers(request_headers), status, response_headers, body,
                                            warc_headers=warc_headers)
    return {"warc_file": warc_file, "warc_offset": offset}


class Recorder:
    """Queue one exchange's Fetch + Document rows and its WARC records (written by the state's writer thread)."""

    def __init__(self, crawler: Crawler) -> None:
        self.services = CrawlServices.of(crawler)
        settings = crawler.settings
        self.cap_bytes = cap_bytes(crawler)
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
        services, state = self.services, self.services.state
        ctx = request.meta.get("ogi") or {}
        headers = _headers(response.headers)
        lower = {k.lower(): v for k, v in headers}
        result = assess(
            response.url, response.status, lower, response.body, role=ctx.get("role", ""),
            flags=tuple(response.flags), cap_bytes=self.cap_bytes, disposition=response.headers.get("Content-Disposition"),
            inflated=request.meta.pop("ogi_inflated", 0),
        )
        if result.outcome == "error" and result.error_kind.startswith("http_") and self.will_retry(request, response.status):
            result = dataclasses.replace(result, outcome="retry")
        wire_headers, wire_body = request.meta.pop("ogi_wire", None) or (headers, response.body)
        sent = request.meta.get("ogi_sent_headers") or request.headers  # a browser's own, when it made the request
        exchange = (response.url, request.method, sent, response.status, wire_headers, wire_body,
                    request.meta.get("ogi_warc_headers"))
        now = utcnow()
        digest = hashlib.sha256(response.body).hexdigest()
        run_id = ctx.get("run_id") or state.default_run_id
        key = url_key(response.url)
        row = {
            "url": response.url, "fetched_at": now, "status": response.status, "headers": dict(lower),
            "content_type": lower.get("content-type", "")[:200], "size": len(response.body), "sha256": digest,
            "outcome": result.outcome, "error_kind": result.error_kind, "error": result.error,
            "warc_file": "", "warc_offset": None,  # filled in by the archive callable below
        }
        document = {
            "url": response.url, "url_key": key, "source_id": state.runs[run_id].source_id,
            "kind": ctx.get("role", "robots") or "page", "content_type": row["content_type"],
            "etag": lower.get("etag", "")[:300], "last_modified": lower.get("last-modified", "")[:100],
            "sha256": digest, "last_status": response.status, "last_seen": now,
        }
        state.fetch(run_id, row, document, archive=lambda: archive_exchange(services.warc, *exchange))
        if result.outcome == "blocked":
            services.note_blocked(run_id, response.url, result.error)
        elif 200 <= response.status < 400:
            services.blocked.answered(host_of(response.url))
        return result


class RecordMiddleware:
    """Record every response and every failed attempt; stop downloads over the size cap."""

    def __init__(self, crawler: Crawler) -> None:
        self.recorder = Recorder(crawler)
        crawler.signals.connect(self.headers_received, signal=signals.headers_received)
        crawler.signals.connect(self.bytes_received, signal=signals.bytes_received)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RecordMiddleware:
        return cls(crawler)

    def headers_received(self, headers: Any, body_length: int | str, request: Request, spider: Any) -> None:
        """Stop a body announced over the cap; chunked and close-delimited bodies have no
        length yet (Twisted passes its ``UNKNOWN_LENGTH`` string) and are capped as they arrive."""
        if self.recorder.cap_bytes and isinstance(body_length, int) and body_length > self.recorder.cap_bytes:
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
        state = self.recorder.services.state
        ctx = request.meta.get("ogi") or {}
        kind, reason = exception_kind(exception)
        outcome = "retry" if self.recorder.will_retry(request) else "error"
        row = failure_row(request.url, outcome, kind, reason)
        state.fetch(ctx.get("run_id") or state.default_run_id, row, None)
        request.meta["ogi_error_recorded"] = True
        return None


class BoundedDecompressionMiddleware(HttpCompressionMiddleware):
    """Scrapy's decompression, stopped once the decoded body passes the download size cap.

    ``DOWNLOAD_MAXSIZE`` stays 0 (the wire cap is :class:`RecordMiddleware`'s, so that what
    was received is archived), which left Scrapy inflating without limit: a 1 MB gzip bomb
    became a 1 GiB report. Scrapy's decoders (gzip, deflate, br, zstd) inflate 64 KiB at a
    time and give up as soon as ``max_size`` is passed; a body over the cap goes on as
    received (still compressed, so the WARC holds the bytes on the wire) with
    ``ogi_inflated`` set, and the recorder files it as ``too_large``.
    """

    def __init__(self, *, crawler: Crawler) -> None:
        super().__init__(crawler=crawler)
        self._max_size = cap_bytes(crawler)

    def process_response(self, request: Request, response: Response, spider: Any = None) -> Response:
        if response.headers.get("Content-Encoding"):
            # The WARC keeps the exchange as it came over the wire (headers and encoded body);
            # only the spider and the recorder's assessment see the decoded body.
            request.meta["ogi_wire"] = (_headers(response.headers), response.body)
        try:
            return super().process_response(request, response)
        except IgnoreRequest as exc:
            over = exc.__cause__
            if not isinstance(over, _DecompressionMaxSizeExceeded):
                raise
            request.meta["ogi_inflated"] = over.decompressed_size
            return response


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

    recorder: Recorder

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RecordingRedirectMiddleware:
        middleware = super().from_crawler(crawler)
        middleware.recorder = Recorder(crawler)
        return middleware

    def _record(self, request: Request, response: Response) -> None:
        self.recorder.record(request, response)


class OfflineCookiesMiddleware(CookiesMiddleware):
    """Scrapy's cookies, with public suffixes from the snapshot bundled with tldextract.

    Scrapy's cookie middleware downloads the public suffix list on first use; a crawler that
    must only talk to the portals it crawls must not. The list is a module global of
    Scrapy's, so it is replaced when this middleware is built, not when a module is imported.
    """

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> OfflineCookiesMiddleware:
        if not isinstance(scrapy_cookies._split_domain, _OfflineSuffixes):
            scrapy_cookies._split_domain = _OfflineSuffixes(suffix_list_urls=(), include_psl_private_domains=True)
        return super().from_crawler(crawler)


class _OfflineSuffixes(TLDExtract):
    """tldextract with the bundled snapshot only (a type of its own, so it is installed once)."""
