"""The ``reports`` spider: a focused crawl from portal home pages to every OGI annual report.

Generic by design: links are scored (:mod:`crawler.discovery`), listing pages are paginated
the way their CMS does it (:mod:`crawler.cms`), and a page or download becomes a report
only when its title says so (:mod:`crawler.classify`). Per-source overrides (a known column
URL, a CSS selector for the listing area) help but are never required.

Usage: ``scrapy crawl reports -a url=http://www.example.gov.cn/`` or ``-a source=NAME``
(``ogi crawl`` is the usual entry point; it runs this spider in-process).
"""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import PurePosixPath
from typing import Any

import scrapy
from scrapy import signals
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response

from crawler.attachments import (
    REPORT_FORMATS, attachment_filename, document_format, is_document_link, looks_like_attachment,
)
from crawler.classify import agency_from_title, is_report_title, report_year, template_for
from crawler.cms import MAX_LISTING_PAGES, hanweb_next_urls, is_hanweb_dataproxy, trs_pages
from crawler.discovery import ATTACHMENT, COLUMN, FOLLOW_THRESHOLD, HUB, PAGINATION, REPORT, score_link
from crawler.exchange import Assessment, failure_row
from crawler.pages import Page, read_page
from crawler.scope import default_domains, host_of, in_domains, trap_reason
from crawler.sources import resolve_sources
from crawler.state import CrawlState, RunInfo
from ogi.config import Settings, load_settings
from pipelines.sniff import charset_of
from storage.blobs import BlobStore
from storage.db import Database, url_key
from storage.versions import ReportCandidate
from storage.warc import WarcStore

logger = logging.getLogger(__name__)

_MIME = {"pdf": "application/pdf", "doc": "application/msword", "wps": "application/vnd.ms-works",
         "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}
_PAGE_ROLES = frozenset({"home", "report"})
_NAV_ROLES = frozenset({"home", "hub", "listing"})


def _split(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


class ReportsSpider(scrapy.Spider):
    name = "reports"

    def __init__(self, url: Any = None, urls: Any = None, source: Any = None, sources: Any = None,
                 kind: str = "", progress: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ad_hoc_urls = _split(url) + _split(urls)
        self.source_names = _split(source) + _split(sources)
        self.crawl_kind = kind
        self.seen: dict[int, set[str]] = {}
        self.blocked_hosts: Counter[str] = Counter()
        self.default_run_id = 0
        self.close_reason = ""
        self.progress = progress  # callable(state), twice a second (``ogi crawl``'s display)

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> ReportsSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider._setup(crawler.settings)
        crawler.signals.connect(spider._opened, signal=signals.spider_opened)
        crawler.signals.connect(spider._closed, signal=signals.spider_closed)
        return spider

    def _setup(self, settings: Any) -> None:
        ogi: Settings = settings.get("OGI_SETTINGS") or load_settings()
        self.ogi = ogi
        self.crawl_kind = self.crawl_kind or settings.get("OGI_KIND", "manual")
        self.max_depth = settings.getint("DEPTH_LIMIT", 8) or 10**6
        self.state = CrawlState(Database(ogi.db_url), kind=self.crawl_kind,
                                flush_rows=settings.getint("OGI_FLUSH_ROWS", 500),
                                flush_interval=settings.getfloat("OGI_FLUSH_INTERVAL", 0.5))
        self.warc = WarcStore(ogi.warc_dir)
        self.blobs = BlobStore(ogi.blob_dir)
        self._loop: Any = None

    # -- lifecycle ----------------------------------------------------------------------

    def _opened(self, spider: scrapy.Spider) -> None:
        from twisted.internet import task  # importing it earlier would install the wrong reactor

        self._loop = task.LoopingCall(self._tick)
        self._loop.start(self.state.flush_interval, now=False)

    def _tick(self) -> None:
        self.state.maybe_flush()
        if self.progress:
            self.progress(self.state)

    def _closed(self, spider: scrapy.Spider, reason: str) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self.close_reason = reason
        if reason == "finished":
            status, complete = "finished", True
        elif reason.startswith("closespider"):
            status, complete = "finished", False
        elif reason == "shutdown":
            status, complete = "interrupted", False
        else:
            status, complete = "failed", False
        self.state.finish(status, "" if reason == "finished" else f"closed: {reason}", complete=complete)
        self.warc.close()
        if self.progress:
            self.progress(self.state)

    async def start(self) -> AsyncIterator[Any]:
        runs = self._open_runs()
        if runs:
            self.default_run_id = runs[0].run_id
        for run in runs:
            for request in self._start_requests(run):
                yield request

    def _open_runs(self) -> list[RunInfo]:
        runs = []
        if self.source_names:
            with self.state.db.session() as session:
                sources = resolve_sources(session, self.source_names, self.ogi)
            for src in sources:
                runs.append(self.state.open_run(src, list(src.start_urls), list(src.allowed_domains) or default_domains(src.start_urls)))
        if self.ad_hoc_urls:
            runs.append(self.state.open_run(None, self.ad_hoc_urls, default_domains(self.ad_hoc_urls)))
        for run in runs:
            self.seen[run.run_id] = set()
        return runs

    def _start_requests(self, run: RunInfo) -> Iterator[Request]:
        for entry in run.pending:
            request = self._request(run, entry["url"], entry["meta"], resumed=True)
            if request is not None:
                yield request
        for url in run.overrides.get("column_urls", []):
            request = self._request(run, url, {"role": "listing", "depth": 1, "score": 70})
            if request is not None:
                yield request
        for url in run.start_urls:
            request = self._request(run, url, {"role": "home", "depth": 0, "score": 50})
            if request is not None:
                yield request

    # -- scheduling ------------------------------------------------------------------------

    def _request(self, run: RunInfo, url: str, ctx: dict[str, Any], *, resumed: bool = False) -> Request | None:
        """A request for ``url`` unless it was seen, is off-site, is a trap or is too deep."""
        key = url_key(url)
        seen = self.seen[run.run_id]
        if key in seen or (key in run.done_keys and not resumed):
            return None
        seen.add(key)
        if not in_domains(url, run.allowed_domains):
            self.state.skipped(run.run_id, "offsite")
            return None
        if trap_reason(url):
            self.state.skipped(run.run_id, "trap")
            return None
        if ctx.get("role") in {"hub", "listing"} and ctx.get("depth", 0) > self.max_depth:
            self.state.skipped(run.run_id, "depth")
            return None
        ctx = {**ctx, "run_id": run.run_id, "key": key}
        if not resumed:
            meta = {k: v for k, v in ctx.items() if k not in {"run_id", "key"}}
            self.state.frontier_add(run.run_id, url, key, ctx.get("depth", 0), ctx.get("role", "page"), meta)
        return Request(url, callback=self.parse, errback=self.failed, meta={"ogi": ctx},
                       priority=int(ctx.get("score", 0)), dont_filter=True)

    # -- callbacks -------------------------------------------------------------------------

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        ctx = response.meta["ogi"]
        fetch: Assessment | None = response.meta.get("ogi_fetch")
        run = self.state.runs[ctx["run_id"]]
        final = "done"
        try:
            if fetch is not None and fetch.outcome == "not_modified":
                if ctx.get("role") != "attachment":
                    yield from self._unchanged_page(response, ctx, run)
                return
            if fetch is None or fetch.outcome != "ok":
                final = "error"
                return
            content_type = response.headers.get("Content-Type", b"").decode("latin-1").lower()
            if ctx.get("role") == "attachment":
                yield from self._attachment(response, ctx, run, fetch)
            elif content_type and "html" not in content_type and "xml" not in content_type and "text" not in content_type:
                yield from self._direct_document(response, ctx, run)
            else:
                yield from self._page(response, ctx, run)
        except Exception:
            final = "error"
            raise
        finally:
            self._settle(run.run_id, ctx, final)

    def _page(self, response: Response, ctx: dict[str, Any], run: RunInfo) -> Iterator[Any]:
        declared = charset_of(response.headers.get("Content-Type", b"").decode("latin-1"))
        selector = run.overrides.get("list_selector", "") if ctx.get("role") == "listing" else ""
        page = read_page(response.url, response.body, declared, selector)
        scored = [score_link(link) for link in page.links]
        report_links = sum(1 for s in scored if s.kind in {REPORT, ATTACHMENT} and s.score >= 100)
        title = page.report_title(ctx.get("title", "")) if ctx.get("role") in _PAGE_ROLES else ""
        if title and report_links < 2:
            yield from self._report_page(response, ctx, run, page, scored, title)
            return
        yield from self._navigate(response, ctx, run, page, scored, report_links)

    def _unchanged_page(self, response: Response, ctx: dict[str, Any], run: RunInfo) -> Iterator[Request]:
        """A page that answered 304: its attachment reports, as found on it last time, are
        requested again (conditionally), so they count as seen and a replaced file is caught."""
        for hosted in run.hosted.get(ctx["key"], ()):
            request = self._request(run, hosted.document_url, {
                "role": "attachment", "depth": ctx.get("depth", 0) + 1, "score": 100, "source_url": response.url,
                "title": hosted.title, "published_at": hosted.published_at,
            })
            if request is not None:
                yield request

    def _report_page(self, response: Response, ctx: dict[str, Any], run: RunInfo, page: Page,
                     scored: list[Any], title: str) -> Iterator[Any]:
        """A report page: its attachments are the report, else the page itself is (inline)."""
        attachments = [s for s in scored if s.score >= 0 and (s.score >= 100 or is_document_link(s.link.url, s.link.label))]
        attachments = [s for s in attachments if looks_like_attachment(s.link.url)]
        for s in attachments:
            label = s.link.label
            request = self._request(run, s.link.url, {
                "role": "attachment", "depth": ctx.get("depth", 0) + 1, "score": 100, "source_url": response.url,
                "title": label if is_report_title(label) else title, "published_at": page.published_at,
            })
            if request is not None:
                yield request
        if attachments:
            return
        meta = {k: v for k, v in page.meta.items() if k in {"ArticleTitle", "PubDate", "ColumnName", "ContentSource", "SiteName"}}
        meta.update(codec=page.codec)
        yield self._item(run, response, title, source_url=response.url, document_url=None,
                         content_type=response.headers.get("Content-Type", b"text/html").decode("latin-1"),
                         filename="", published_at=page.published_at, meta=meta)

    def _navigate(self, response: Response, ctx: dict[str, Any], run: RunInfo, page: Page,
                  scored: list[Any], report_links: int) -> Iterator[Request]:
        depth = ctx.get("depth", 0)
        fresh = 0
        pagination = []
        for s in scored:
            if s.kind == PAGINATION:
                pagination.append(s.link.url)
                continue
            if s.kind in {REPORT, ATTACHMENT} and s.score >= 100:
                role = "attachment" if s.kind == ATTACHMENT else "report"
                child = {"role": role, "depth": depth + 1, "score": 100, "title": s.link.label, "source_url": response.url}
            elif s.kind in {COLUMN, HUB} and s.score >= FOLLOW_THRESHOLD:
                child = {"role": "listing" if s.kind == COLUMN else "hub", "depth": depth + 1, "score": s.score}
            else:
                continue
            request = self._request(run, s.link.url, child)
            if request is not None:
                fresh += s.kind != HUB
                yield request
        if ctx.get("role") != "listing" and not report_links and not is_hanweb_dataproxy(response.url):
            return
        hops = ctx.get("hops", 0)
        listing = {"role": "listing", "depth": depth, "score": 50, "hops": hops + 1}
        for url in trs_pages(page.text, response.url) + hanweb_next_urls(page.text, response.url):
            request = self._request(run, url, listing)
            if request is not None:
                yield request
        if fresh and hops < MAX_LISTING_PAGES:  # a page with nothing new ends the chain (endless ?page=N)
            for url in pagination:
                request = self._request(run, url, listing)
                if request is not None:
                    yield request

    def _attachment(self, response: Response, ctx: dict[str, Any], run: RunInfo, fetch: Assessment) -> Iterator[Any]:
        title = ctx.get("title", "")
        stem = PurePosixPath(fetch.filename).stem
        if not is_report_title(title) and is_report_title(stem):
            title = stem
        if not is_report_title(title):
            logger.info("attachment %s has no report title; not archived as a report", response.url)
            return
        yield self._item(run, response, title, source_url=ctx.get("source_url", response.url), document_url=response.url,
                         content_type=_MIME.get(fetch.format, ""), filename=fetch.filename,
                         published_at=ctx.get("published_at"), meta={})

    def _direct_document(self, response: Response, ctx: dict[str, Any], run: RunInfo) -> Iterator[Any]:
        """A report link that answered with a document although its URL did not say so."""
        disposition = response.headers.get("Content-Disposition")
        filename = attachment_filename(response.url, disposition)
        fmt, problem = document_format(response.body, response.headers.get("Content-Type", b"").decode("latin-1"), filename)
        if fmt in REPORT_FORMATS and not problem:
            yield from self._attachment(response, {**ctx, "source_url": ctx.get("source_url", response.url)}, run,
                                        Assessment("ok", format=fmt, filename=filename))

    def _item(self, run: RunInfo, response: Response, title: str, **fields: Any) -> dict[str, Any]:
        year = report_year(title)
        requested = response.request.url if response.request else response.url
        meta = dict(fields.pop("meta"))
        if requested != response.url:
            meta["requested_url"] = requested
        candidate = ReportCandidate(
            url=response.url, title=title, sha256="", region=run.region, agency=agency_from_title(title),
            report_year=year, template=template_for(year), meta=meta, **fields,
        )
        return {"run_id": run.run_id, "source_id": run.source_id, "candidate": candidate, "body": response.body}

    def failed(self, failure: Any) -> None:
        """Errback: record why a request produced no response (robots, redirect loop, scope)."""
        request = failure.request
        ctx = request.meta.get("ogi") or {}
        run_id = ctx.get("run_id") or self.default_run_id
        exc = failure.value
        state = "error"
        if isinstance(exc, IgnoreRequest):
            why = request.meta.get("ogi_skip") or ""
            text = str(exc)
            if "robots.txt" in text:
                self._record_failure(run_id, request.url, "robots", "robots", "disallowed by robots.txt")
                self.state.skipped(run_id, "robots")
                state = "skipped"
            elif "max redirections" in text:
                self._record_failure(run_id, request.url, "error", "redirect_loop",
                                     f"redirect loop: more than {self.settings.getint('REDIRECT_MAX_TIMES')} redirections")
            else:
                self.state.skipped(run_id, why or "ignored")
                state = "skipped"
        elif not request.meta.get("ogi_error_recorded"):
            self._record_failure(run_id, request.url, "error", "download", f"{type(exc).__name__}: {exc}"[:500])
        if ctx.get("key"):
            self._settle(run_id, ctx, state)

    def _settle(self, run_id: int, ctx: dict[str, Any], state: str) -> None:
        """Close a frontier entry; a failed navigation page makes the run unable to prove absence."""
        self.state.frontier_state(run_id, ctx["key"], state)
        if state == "error" and ctx.get("role") in _NAV_ROLES:
            self.state.nav_failed(run_id, ctx["key"])

    def _record_failure(self, run_id: int, url: str, outcome: str, kind: str, reason: str) -> None:
        self.state.fetch(run_id, failure_row(url, outcome, kind, reason), None)

    def note_blocked(self, run_id: int, url: str, reason: str) -> None:
        """Count consecutive walls per host (reset by any good answer); the scope guard uses it."""
        host = host_of(url)
        self.blocked_hosts[host] += 1
        self.state.blocked_host(run_id, host, reason)
