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
from collections.abc import AsyncIterator, Iterator
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import scrapy
from scrapy import signals
from scrapy.exceptions import DontCloseSpider, IgnoreRequest
from scrapy.http import Request, Response

from crawler.attachments import (
    REPORT_FORMATS,
    attachment_filename,
    document_format,
    is_document_link,
    looks_like_attachment,
)
from crawler.classify import agency_from_title, is_report_title, report_year, template_for
from crawler.cms import (
    MAX_LISTING_PAGES,
    api_page,
    hanweb_next_urls,
    is_api_listing,
    is_hanweb_dataproxy,
    json_api_url,
    json_listing,
    listing_page_count,
    next_api_url,
    trs_pages,
)
from crawler.discovery import (
    ATTACHMENT,
    COLUMN,
    FOLLOW_THRESHOLD,
    HUB,
    PAGINATION,
    REPORT,
    best_links,
    page_number,
    score_link,
    score_links,
)
from crawler.exchange import Assessment, failure_row
from crawler.pages import Page, read_page
from crawler.scope import canonical_url, default_domains, in_domains, trap_reason
from crawler.services import CrawlServices
from crawler.sources import resolve_sources
from crawler.state import RunInfo
from domain.sniff import charset_of
from storage.db import url_key
from storage.versions import ReportCandidate

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

_MIME = {"pdf": "application/pdf", "doc": "application/msword", "wps": "application/vnd.ms-works",
         "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}
_PAGE_ROLES = frozenset({"home", "report"})
_NAV_ROLES = frozenset({"home", "hub", "listing"})
# Text outside links a page needs to be a report although it links several (a listing has dates and a footer).
REPORT_BODY_CHARS = 800
MAX_UNRECORDED_LISTED = 50  # differences named in the log and the run's stats (all are counted)


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
        self.crawl_kind = kind  # "" = the OGI_KIND setting
        self.progress = progress  # callable(state), twice a second (``ogi crawl``'s display)
        self.seen: dict[int, set[str]] = {}
        self.listings: dict[int, set[frozenset[str]]] = {}  # per run: the report entries of each listing page read
        self.rechecked = False  # known reports not met are re-requested once, when the crawl first runs dry
        # per run: each report-like URL fetched (a report or attachment link that answered) -> why it
        # was not recorded ("" once it was): the end-of-crawl check (:meth:`closed`)
        self.fates: dict[int, dict[str, str]] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> ReportsSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.max_depth = crawler.settings.getint("DEPTH_LIMIT", 8) or 10**6
        spider.max_links = crawler.settings.getint("OGI_MAX_LINKS_PER_PAGE", 3000)
        crawler.signals.connect(spider._opened, signal=signals.spider_opened)
        crawler.signals.connect(spider._idle, signal=signals.spider_idle)
        return spider

    def _idle(self) -> None:
        """The crawl has read everything it found: once, re-request the known reports it did not
        meet (conditionally) in each run whose listings cannot prove absence (a home, hub or listing
        page that used to work failed). One that answers 404/410 is withdrawn (``mark_gone``) all
        the same; one found at a new URL in this crawl was seen, so its old URL's 404 does not
        withdraw it. A run whose listings all answered needs no re-request: what it did not meet is
        withdrawn as no longer listed (:meth:`CrawlState.finish`), still online or not."""
        if self.rechecked:
            return
        self.rechecked = True
        requests = [request for run in self.state.runs.values() for request in self._rechecks(run)]
        for request in requests:
            self.crawler.engine.crawl(request)
        if requests:
            raise DontCloseSpider

    def _rechecks(self, run: RunInfo) -> Iterator[Request]:
        if not self.state.counts[run.run_id].listing_errors:
            return
        seen = self.seen.get(run.run_id, set()) | run.done_keys
        rechecked = 0
        for known in self.state.known_reports(run.run_id):
            if url_key(canonical_url(known.url)) in seen:
                continue
            request = self._request(run, known.url, {
                "role": "attachment" if known.attachment else "report", "depth": 0, "score": 100, "recheck": True,
                "title": known.title, "source_url": known.source_url or known.url})
            if request is None:
                continue
            if known.etag:
                request.headers.setdefault("If-None-Match", known.etag)
            if known.last_modified:
                request.headers.setdefault("If-Modified-Since", known.last_modified)
            rechecked += 1
            yield request
        self.state.notes[run.run_id]["rechecked"] = rechecked

    def _opened(self) -> None:
        """Take the crawl's state from its services (Scrapy builds the spider before its
        extensions, so they exist only once the spider is opened) and hand them this crawl's
        arguments."""
        services = CrawlServices.of(self.crawler)
        if self.crawl_kind:  # ``-a kind=incremental``
            services.state.kind = self.crawl_kind
        services.progress = self.progress
        self.ogi = services.ogi
        self.state = services.state

    async def start(self) -> AsyncIterator[Any]:
        for run in self._open_runs():
            for request in self._start_requests(run):
                yield request

    def _open_runs(self) -> list[RunInfo]:
        runs = []
        if self.source_names:
            with self.state.db.session() as session:
                sources = resolve_sources(session, self.source_names, self.ogi)
            for src in sources:
                domains = list(src.allowed_domains) or default_domains(src.start_urls)
                runs.append(self.state.open_run(src, list(src.start_urls), domains))
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
        """A request for ``url`` unless it was seen, is off-site, is a trap or is too deep.

        The URL is put in its canonical form first (:func:`crawler.scope.canonical_url`, what
        Scrapy sends and what the recorder keys responses on), so a link written with Chinese
        characters or spaces has the key its validators and known reports are stored under.
        """
        url = canonical_url(url)
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
            if ctx.get("role") in {"report", "attachment"}:
                self.fates.setdefault(run.run_id, {}).setdefault(response.url, "fetched but never read as a report")
            if ctx.get("role") == "attachment":
                yield from self._attachment(response, ctx, run, fetch)
            elif ctx.get("api") and is_api_listing(content_type, response.body):
                yield from self._api_listing(response, ctx, run)
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
        scored = self._capped(run, response.url, score_links(page.links, page.platform))
        report_links = sum(1 for s in scored if s.kind in {REPORT, ATTACHMENT} and s.score >= 100)
        title = page.report_title(ctx.get("title", "")) if ctx.get("role") in _PAGE_ROLES else ""
        if title and (report_links < 2 or page.prose >= REPORT_BODY_CHARS):
            # A report's page may link other reports (上一篇 / 下一篇, 相关阅读): with a report's
            # body it is still the report, and the links it holds are followed too.
            yield from self._report_page(response, ctx, run, page, scored, title)
            if report_links >= 2:
                yield from self._navigate(response, {**ctx, "role": "report"}, run, page, scored, report_links)
            return
        if ctx.get("role") == "report":
            self._fate(run.run_id, response.url, f"the page links {report_links} reports: read as a listing" if title
                       else "no title on the page names a report (title, headings, meta, link text)")
        yield from self._navigate(response, ctx, run, page, scored, report_links)

    def _capped(self, run: RunInfo, url: str, scored: list[Any]) -> list[Any]:
        """The page's best links up to OGI_MAX_LINKS_PER_PAGE; the rest are counted and logged."""
        kept, dropped = best_links(scored, self.max_links)
        if dropped:
            logger.warning("page %s has %s links: only the best %s are followed (OGI_MAX_LINKS_PER_PAGE)",
                           url, f"{len(scored):,}", f"{len(kept):,}")
            self.state.skipped(run.run_id, "links_over_cap", dropped)
        return kept

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
            self._fate(run.run_id, response.url, f"its {len(attachments)} document link(s) were taken for the report; "
                                                 "none was recorded")
            return
        meta = {k: v for k, v in page.meta.items() if k in {"ArticleTitle", "PubDate", "ColumnName", "ContentSource", "SiteName"}}
        meta.update(codec=page.codec)
        declared = response.headers.get("Content-Type", b"").decode("latin-1")
        yield self._item(run, response, title, source_url=response.url, document_url=None,
                         content_type=declared if "html" in declared.lower() else f"text/html; charset={page.codec}",
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
        api = json_api_url(page.scripts, response.url)
        further = trs_pages(page.text, response.url) + hanweb_next_urls(page.text, response.url)
        for url, extra in [(u, {}) for u in further] + ([(api, {"api": True})] if api else []):
            request = self._request(run, url, {**listing, **extra})
            if request is not None:
                yield request
        if hops < MAX_LISTING_PAGES and (fresh or (ctx.get("role") == "listing" and self._new_listing(run, scored))):
            yield from self._paginate(run, pagination, listing_page_count(page.text), listing)

    def _new_listing(self, run: RunInfo, scored: list[Any]) -> bool:
        """Whether this listing page lists reports no listing page of this run listed as a whole before.

        A report column is read to its last page even when its first pages list only reports
        found elsewhere first (a home page linking the newest); an endless ``?page=N`` page
        lists nothing, or the same entries again, and ends the chain. (Home and hub pages are
        not compared: a hub's "latest reports" box is the same list as the column's first page.)
        """
        entries = frozenset(s.link.url for s in scored if s.kind in {REPORT, ATTACHMENT} and s.score >= 100)
        listings = self.listings.setdefault(run.run_id, set())
        if not entries or entries in listings:
            return False
        listings.add(entries)
        return True

    def _paginate(self, run: RunInfo, urls: list[str], count: int | None, listing: dict[str, Any]) -> Iterator[Request]:
        """The plain pagination links, up to the listing's own page count when it states one."""
        for url in urls:
            number = page_number(url)
            if count is not None and number is not None and number > count:
                self.state.skipped(run.run_id, "past_last_page")
                continue
            request = self._request(run, url, listing)
            if request is not None:
                yield request

    def _api_listing(self, response: Response, ctx: dict[str, Any], run: RunInfo) -> Iterator[Request]:
        """A JSON list API's answer: its report entries, and (from page 1) the API's other pages."""
        declared = charset_of(response.headers.get("Content-Type", b"").decode("latin-1")) or "utf-8"
        links, pages = json_listing(response.body.decode(declared, "replace"), response.url)
        depth = ctx.get("depth", 0)
        for s in (score_link(link) for link in links):
            if s.kind in {REPORT, ATTACHMENT} and s.score >= 100:
                role = "attachment" if s.kind == ATTACHMENT else "report"
                request = self._request(run, s.link.url, {"role": role, "depth": depth + 1, "score": 100,
                                                          "title": s.link.label, "source_url": response.url})
                if request is not None:
                    yield request
        if ctx.get("hops", 0) and api_page(response.url) == 1:
            for n in range(2, min(pages or 0, MAX_LISTING_PAGES) + 1):
                request = self._request(run, next_api_url(response.url, n), {**ctx, "hops": ctx.get("hops", 0) + 1})
                if request is not None:
                    yield request

    def _attachment(self, response: Response, ctx: dict[str, Any], run: RunInfo, fetch: Assessment) -> Iterator[Any]:
        title = ctx.get("title", "")
        stem = PurePosixPath(fetch.filename).stem
        if not is_report_title(title) and is_report_title(stem):
            title = stem
        if not is_report_title(title):
            logger.info("attachment %s has no report title; not archived as a report", response.url)
            self._fate(run.run_id, response.url, f"no report title (link text or file name): {title or stem!r}")
            return
        yield self._item(run, response, title, source_url=ctx.get("source_url", response.url), document_url=response.url,
                         content_type=_MIME.get(fetch.format, ""), filename=fetch.filename,
                         published_at=ctx.get("published_at"), meta={})

    def _direct_document(self, response: Response, ctx: dict[str, Any], run: RunInfo) -> Iterator[Any]:
        """A link that answered with a document although its URL did not say so; or an HTML page
        under a download type (``application/octet-stream``), which is read as the page it is."""
        disposition = response.headers.get("Content-Disposition")
        filename = attachment_filename(response.url, disposition)
        fmt, problem = document_format(response.body, response.headers.get("Content-Type", b"").decode("latin-1"), filename)
        if fmt == "html":
            yield from self._page(response, ctx, run)
        elif fmt not in REPORT_FORMATS or problem:
            self._fate(run.run_id, response.url, problem or f"answered a {fmt or 'non-report'} document")
        else:
            yield from self._attachment(response, {**ctx, "source_url": ctx.get("source_url", response.url)}, run,
                                        Assessment("ok", format=fmt, filename=filename))

    def _item(self, run: RunInfo, response: Response, title: str, **fields: Any) -> dict[str, Any]:
        fates = self.fates.setdefault(run.run_id, {})
        fates[response.url] = ""  # recorded; and so is the report page whose attachment this is
        if fields["source_url"] in fates:
            fates[fields["source_url"]] = ""
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

    def _fate(self, run_id: int, url: str, reason: str) -> None:
        """Why a fetched report-like URL was not recorded (only for one that is not recorded yet)."""
        fates = self.fates.get(run_id, {})
        if fates.get(url):
            fates[url] = reason

    def closed(self, reason: str) -> None:
        """The end-of-crawl check: report-like pages fetched against reports recorded; each
        difference is logged with its reason and kept in ``CrawlRun.stats['unrecorded']``."""
        for run_id, fates in self.fates.items():
            missing = {url: why for url, why in fates.items() if why}
            self.state.notes[run_id].update(report_like_fetched=len(fates), report_like_recorded=len(fates) - len(missing),
                                            unrecorded=dict(sorted(missing.items())[:MAX_UNRECORDED_LISTED]))
            for url, why in sorted(missing.items())[:MAX_UNRECORDED_LISTED]:
                logger.warning("report-like %s was fetched but not recorded: %s", url, why)
            if missing:
                logger.warning("run %s: %d of %d report-like pages fetched were not recorded as reports",
                               run_id, len(missing), len(fates))

    def failed(self, failure: Any) -> None:
        """Errback: record why a request produced no response (robots, redirect loop, scope)."""
        request = failure.request
        ctx = request.meta.get("ogi") or {}
        run_id = ctx.get("run_id") or self.state.default_run_id
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
            elif request.meta.get("retry_times"):  # its last row says "retry": say why none was made
                self._record_failure(run_id, request.url, "error", why or "ignored", f"not retried: {text}"[:500])
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
