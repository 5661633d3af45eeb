"""Browser fetching as a per-host escalation: Chromium (through scrapy-playwright) for hosts behind
a JavaScript challenge, plain HTTP for everyone else.

Many county portals answer every request with an HTTP 412 page whose obfuscated script computes
a cookie and reloads, or with a WAF interstitial. A real browser gets past them as a visitor's
does (Browsertrix and Brozzler exist for this). The escalation, per host:

1. A WAF interstitial that sets a cookie is asked again plainly once: Scrapy kept the cookie.
2. A JavaScript challenge in front of the whole host (its first answers are walls, or it was
   remembered from an earlier crawl) sends that request to Chromium, which runs the script
   and reloads; :class:`Capture` waits for the page past the wall, a bounded number of reloads.
3. Passed: the cookies the browser earned go into Scrapy's cookie jar, and the host's pages are
   fetched plainly with them while that works; if the wall comes back, its pages go through the
   browser for the rest of the crawl. Attachments are never rendered: plain with the cookies, or
   when those do not open them, fetched by the browser (``fetch()`` from a blank page of the origin).
   The host is remembered in the database with the date (``storage.browser_hosts``).
4. Not passed (a CAPTCHA, a login): the host stays ``blocked`` with the reason; other requests to
   it waited for this one verdict, and none goes to the browser again. Each request climbs the
   ladder once: no loop, no retry storm.

Everything the browser received is archived (:class:`BrowserExchangeMiddleware`): the final page
as the request's own exchange, the walls and scripts on the way as ``outcome='browser'`` fetches,
each WARC record carrying ``WARC-Ogi-Fetched-By``. The browser is started only when a host needs
it. Settings: ``OGI_BROWSER`` (on/off), ``OGI_CHROMIUM`` (the executable), ``OGI_BROWSER_PAGES``
(pages open at once, the whole crawl), ``OGI_BROWSER_WAIT`` (seconds a challenge gets to reload),
``OGI_BROWSER_RELOADS``, ``OGI_BROWSER_RECHECK_DAYS`` (when a remembered host is tried plainly again).
"""
from __future__ import annotations

import asyncio
import functools
import logging
import shutil
from dataclasses import dataclass, field
from http.cookiejar import Cookie
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from playwright.async_api import Error as PlaywrightError
from scrapy.downloadermiddlewares.cookies import CookiesMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Headers, Response
from scrapy.responsetypes import responsetypes
from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler
from scrapy_playwright.page import PageMethod

from crawler.blocked import blocked_reason, browser_may_pass
from crawler.middlewares import archive_exchange, cap_bytes
from crawler.scope import host_of
from crawler.services import CrawlServices
from storage import browser_hosts
from storage.models import utcnow

if TYPE_CHECKING:
    from playwright.async_api import Page
    from playwright.async_api import Request as BrowserRequest
    from playwright.async_api import Response as BrowserResponse
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Not needed to get past a wall nor to read a report: never downloaded by the browser.
_SKIPPED_RESOURCES = frozenset({"image", "media", "font"})
_ON = frozenset({"1", "on", "true", "yes", "auto"})
_VISIT_KEYS = ("playwright", "ogi_capture", "ogi_fetch", "ogi_in_page")  # one browser visit's meta, not the next's
_ENCODING_HEADERS = frozenset({"content-encoding", "transfer-encoding", "content-length"})


def chromium_path(settings: BaseSettings) -> str:
    """The Chromium to drive: ``OGI_CHROMIUM``, else ``chromium`` on PATH ('' when there is none)."""
    configured = settings.get("OGI_CHROMIUM") or ""
    if configured:
        return configured if Path(configured).is_file() else ""
    return shutil.which("chromium") or shutil.which("chromium-browser") or ""


def browser_off_reason(settings: BaseSettings) -> str:
    """Why browser fetching is off in this crawl ('' when it is on)."""
    if str(settings.get("OGI_BROWSER", "on")).lower() not in _ON:
        return "OGI_BROWSER is off"
    if not chromium_path(settings):
        where = settings.get("OGI_CHROMIUM")
        return f"no Chromium at {where} (OGI_CHROMIUM)" if where else "no Chromium on this machine (set OGI_CHROMIUM)"
    return ""


class BrowserAddon:
    """Scrapy add-on: scrapy-playwright's download handler and settings when a browser may be used.

    Requests without ``meta['playwright']`` still go through Scrapy's own HTTP handler, so plain
    crawls are unchanged; without Chromium (or with ``OGI_BROWSER=off``) nothing is installed.
    """

    def update_settings(self, settings: BaseSettings) -> None:
        if browser_off_reason(settings):
            return
        handler = "crawler.browser.BrowserDownloadHandler"
        settings.set("DOWNLOAD_HANDLERS", {**settings.getdict("DOWNLOAD_HANDLERS"), "http": handler, "https": handler},
                     priority="addon")
        for name, value in {
            "PLAYWRIGHT_BROWSER_TYPE": "chromium",
            "PLAYWRIGHT_LAUNCH_OPTIONS": {"executable_path": chromium_path(settings), "headless": True, "args": CHROMIUM_ARGS},
            # One context for the crawl (cookies are per host anyway), so its page limit bounds the browser.
            "PLAYWRIGHT_MAX_CONTEXTS": 1,
            "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": settings.getint("OGI_BROWSER_PAGES", 2),
            "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": settings.getfloat("DOWNLOAD_TIMEOUT", 30) * 1000,
            # The browser's own headers, so that the cookies it earned are the ones it sends.
            "PLAYWRIGHT_PROCESS_REQUEST_HEADERS": None,
            "PLAYWRIGHT_ABORT_REQUEST": "crawler.browser.skipped_resource",
        }.items():
            settings.set(name, value, priority="addon")


def skipped_resource(request: BrowserRequest) -> bool:
    return request.resource_type in _SKIPPED_RESOURCES


class BrowserDownloadHandler(ScrapyPlaywrightDownloadHandler):
    """scrapy-playwright's handler, starting Playwright only when the first request needs it
    (most crawls never do: no Node process, no Chromium)."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self._start_lock = asyncio.Lock()

    async def _maybe_launch_in_thread(self) -> None:  # the engine started: nothing to launch yet
        return None

    def _engine_started(self) -> Any:  # same, for Scrapy before 2.14
        return None

    async def _download_request(self, request: Request, spider: Any = None) -> Response:
        async with self._start_lock:
            if getattr(self, "browser_provider", None) is None:
                await self._launch()
        if request.meta.get("ogi_in_page"):
            return await self._fetch_in_page(request, spider or self._crawler.spider)
        return await super()._download_request(request, spider)

    async def _fetch_in_page(self, request: Request, spider: Any) -> Response:
        """An attachment the earned cookies do not open plainly: fetched by the browser itself,
        with ``fetch()`` from a blank page of the host's origin (its cookies and the browser's own
        request headers; nothing rendered). The bytes come through the visit's :class:`Capture`."""
        capture: Capture = request.meta["ogi_capture"]
        page = await self._create_page(request=request, spider=spider)
        try:
            page.on("response", capture.on_response)
            blank = urljoin(request.url, BLANK_PATH)
            await page.route(blank, lambda route: route.fulfill(status=200, content_type="text/html", body="<!DOCTYPE html>"))
            await page.goto(blank)
            status = await page.evaluate(_IN_PAGE_FETCH, [request.url, cap_bytes(self._crawler)])
            await capture.settled(page)
        finally:
            await page.close()
        return Response(request.url, status=status or 200, request=request, flags=["playwright"])


BLANK_PATH = "/__ogi_blank__"  # answered by the browser itself (page.route), never requested from the portal
# Fetch one URL from the page, cookies included; over the size cap (bytes; 0: none) it is abandoned.
_IN_PAGE_FETCH = """async ([url, cap]) => {
  const control = new AbortController();
  const response = await fetch(url, {credentials: "include", signal: control.signal});
  if (cap && Number(response.headers.get("content-length") || 0) > cap) { control.abort(); return response.status; }
  await response.arrayBuffer();
  return response.status;
}"""


@dataclass
class Exchange:
    """One response the browser received, with the request it made for it."""

    url: str
    method: str
    status: int
    reason: str
    request_headers: list[tuple[str, str]]
    response_headers: list[tuple[str, str]]
    body: bytes
    document: bool  # the page itself (main frame), not a script or style sheet
    resource: str = "document"  # the browser's resource type: document, script, fetch ...

    @functools.cached_property
    def wall(self) -> str:  # read while settling every 50 ms and again when archiving: worked out once
        content_type = next((v for k, v in self.response_headers if k.lower() == "content-type"), "")
        return blocked_reason(self.status, self.body, content_type)


@dataclass
class Capture:
    """What one browser visit received, and the wait for its page to get past the wall."""

    wait: float
    reloads: int
    exchanges: list[Exchange] = field(default_factory=list)
    cookies: list[dict[str, Any]] = field(default_factory=list)
    browser: str = ""
    _reading: int = 0

    async def on_response(self, response: BrowserResponse) -> None:
        if response.url.endswith(BLANK_PATH):
            return  # the blank page an in-page fetch starts from: made up by the browser, not received
        self._reading += 1
        try:
            request = response.request
            frame = response.frame
            try:
                body = await response.body()
            except PlaywrightError:  # a redirect, or a page gone before its body was read
                body = b""
            self.exchanges.append(Exchange(
                response.url, request.method, response.status, response.status_text,
                [(h["name"], h["value"]) for h in await request.headers_array()],
                [(h["name"], h["value"]) for h in await response.headers_array()], body,
                request.resource_type == "document" and frame.parent_frame is None, request.resource_type))
        finally:
            self._reading -= 1

    @property
    def final(self) -> Exchange | None:
        """The page the visit ended on, or for an in-page fetch what the fetch received."""
        return next((e for e in reversed(self.exchanges) if e.document or e.resource == "fetch"), None)

    async def settled(self, page: Page) -> None:
        """Every response body read, and the cookies and browser noted (the end of a visit)."""
        while self._reading:
            await asyncio.sleep(0.02)
        self.cookies = await page.context.cookies()
        browser = page.context.browser
        self.browser = f"Chromium {browser.version}" if browser else "Chromium"

    async def settle(self, page: Page) -> None:
        """A page method: let the challenge's script run. Done at a page that is no wall, when no
        new page comes within ``wait`` seconds, or after ``reloads`` pages (a wall that reloads forever)."""
        loop = asyncio.get_running_loop()
        seen, deadline = -1, 0.0
        while True:
            pages = [e for e in self.exchanges if e.document]
            if len(pages) != seen:
                seen, deadline = len(pages), loop.time() + self.wait
            if pages and not self._reading and not pages[-1].wall:
                break
            if loop.time() > deadline or seen > self.reloads:
                break
            await asyncio.sleep(0.05)
        await self.settled(page)


def _headers(pairs: list[tuple[str, str]]) -> Headers:
    headers = Headers()
    for name, value in pairs:
        headers.appendlist(name, value)
    return headers


def _as_received(exchange: Exchange) -> list[tuple[str, str]]:
    """Response headers that match the stored body: the browser hands bodies over decoded and unchunked."""
    kept = [(k, v) for k, v in exchange.response_headers if k.lower() not in _ENCODING_HEADERS]
    return kept + [("Content-Length", str(len(exchange.body)))]


class BrowserExchangeMiddleware:
    """Turn scrapy-playwright's answer (the rendered DOM, the status of the first page) into the
    exchange the browser received last, and archive the others it received on the way.

    Sits next to the download handler (750), so that cookies, the recorder and the spider see
    the final page as if it had come plainly, and the WARC gets its bytes as served.
    """

    def __init__(self, services: CrawlServices) -> None:
        self.services = services

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BrowserExchangeMiddleware:
        return cls(CrawlServices.of(crawler))

    def process_response(self, request: Request, response: Response) -> Response:
        capture: Capture | None = request.meta.get("ogi_capture")
        if capture is None or "playwright" not in response.flags:
            return response
        final = capture.final
        label = f"browser ({capture.browser})"
        request.meta["ogi_warc_headers"] = {"WARC-Ogi-Fetched-By": label}
        run_id = (request.meta.get("ogi") or {}).get("run_id")
        for exchange in capture.exchanges:
            if exchange is not final:
                self._archive(run_id, exchange, label)
        if final is None:
            return response
        request.meta["ogi_sent_headers"] = _headers(final.request_headers)
        headers = _headers(_as_received(final))
        cls = responsetypes.from_args(headers=headers, url=final.url, body=final.body)
        return cls(url=final.url, status=final.status, headers=headers, body=final.body, request=request,
                   flags=["browser"])

    def _archive(self, run_id: int | None, exchange: Exchange, label: str) -> None:
        """A wall, redirect or script the browser met on the way: a fetch row and its WARC records."""
        state, warc = self.services.state, self.services.warc
        headers = _as_received(exchange)
        lower = {k.lower(): v for k, v in headers}
        row = {"url": exchange.url, "fetched_at": utcnow(), "status": exchange.status, "headers": lower,
               "content_type": lower.get("content-type", "")[:200], "size": len(exchange.body), "sha256": "",
               "outcome": "browser", "error_kind": "", "error": exchange.wall, "warc_file": "", "warc_offset": None}
        sent = _headers(exchange.request_headers)
        state.fetch(run_id or state.default_run_id, row, None, archive=lambda: archive_exchange(
            warc, exchange.url, exchange.method, sent, exchange.status, headers, exchange.body,
            {"WARC-Ogi-Fetched-By": label}))


@dataclass
class HostState:
    """Where one host stands: ``plain`` | ``probing`` (its first browser visit is under way) |
    ``cookies`` (passed: plain requests with the browser's cookies) | ``browser`` (pages through
    the browser) | ``failed`` (the browser did not get past: blocked)."""

    mode: str = "plain"
    answered: bool = False  # a page came plainly, without a wall
    remembered: bool = False
    passed: bool = False
    cookies_failed: bool = False
    generation: int = 0  # cookie jar updates from the browser
    reason: str = ""
    verdict: asyncio.Event | None = None


class BrowserMiddleware:
    """Decide, per host and per wall, whether a request goes again plainly, to the browser, or not at all.

    At 580: its ``process_response`` runs after the recorder (585) has archived and assessed the
    answer, and before retries (550), which never repeat a wall.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.services = CrawlServices.of(crawler)
        settings = crawler.settings
        self.off = browser_off_reason(settings)
        self.wait = settings.getfloat("OGI_BROWSER_WAIT", 3.0)
        self.reloads = settings.getint("OGI_BROWSER_RELOADS", 4)
        self.user_agent = settings.get("USER_AGENT")
        self.hosts: dict[str, HostState] = {}
        self._jar: Any = None
        if self.off:  # a missing Chromium is news to the operator; OGI_BROWSER=off is their own choice
            level = logging.INFO if self.off.startswith("OGI_BROWSER") else logging.WARNING
            logger.log(level, "browser fetching is off: %s; hosts behind a JavaScript challenge stay blocked", self.off)
            return
        days = settings.getint("OGI_BROWSER_RECHECK_DAYS", 30)
        for host, info in browser_hosts.browser_hosts(self.services.state.db).items():
            due = browser_hosts.due_for_recheck(info, days)  # tried plainly again; forgotten if it answers
            self.hosts[host] = HostState(mode="plain" if due else "browser", remembered=True, reason=info.get("reason", ""))
            if not due:
                self.services.blocked.excuse(host)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BrowserMiddleware:
        return cls(crawler)

    # -- requests --------------------------------------------------------------------------

    def process_request(self, request: Request) -> None:
        ctx = request.meta.get("ogi")
        if ctx is None or self.off:
            return None
        host = self.hosts.get(host_of(request.url))
        wall = request.meta.get("ogi_wall", ())
        attachment = ctx.get("role") == "attachment"
        if wall and wall[-1] == "browser" or (host and host.mode == "browser" and (not attachment or host.cookies_failed)):
            self._through_browser(request, in_page=attachment and host is not None and host.passed)
        elif host is not None and host.passed:
            request.meta["ogi_cookie_generation"] = host.generation  # plain, with the cookies the browser earned
            request.meta["ogi_warc_headers"] = {"WARC-Ogi-Fetched-By": "http, with the cookies a browser earned"}
        return None

    def _through_browser(self, request: Request, *, in_page: bool) -> None:
        """Send the request to Chromium: a page is visited (and its challenge run); a file, once the
        host's wall is passed, is fetched from a blank page of its origin, not rendered."""
        capture = Capture(self.wait, self.reloads)
        request.meta["ogi_in_page"] = in_page
        request.meta.update(
            playwright=True, playwright_context="ogi", ogi_capture=capture, ogi_fetched_by="browser",
            playwright_context_kwargs={"user_agent": self.user_agent, "locale": "zh-CN"},
            playwright_page_event_handlers={"response": capture.on_response},
            playwright_page_methods=[PageMethod(capture.settle)],
        )

    def _again(self, request: Request, step: str) -> Request:
        """The same request once more, one rung up the ladder (``ogi_wall`` lists the rungs taken)."""
        meta = {k: v for k, v in request.meta.items() if not k.startswith(_VISIT_KEYS)}
        meta["ogi_wall"] = (*request.meta.get("ogi_wall", ()), step)
        return request.replace(meta=meta, dont_filter=True)

    # -- answers ---------------------------------------------------------------------------

    def process_response(self, request: Request, response: Response) -> Any:
        ctx, fetch = request.meta.get("ogi"), request.meta.get("ogi_fetch")
        if ctx is None or fetch is None:
            return response
        name = host_of(request.url)
        host = self.hosts.setdefault(name, HostState())
        if "ogi_capture" in request.meta:
            return self._after_browser(request, response, fetch, name, host)
        if fetch.outcome != "blocked":
            self._answered(request, name, host, response)
            return response
        return self._after_wall(request, response, fetch.error, name, host)

    def process_exception(self, request: Request, exception: Exception) -> None:
        """A browser visit that ended without an answer. Dropped before it started (a budget spent):
        the host goes back to ``plain``, so the next wall sends another visit and nobody waits in
        vain. The browser failed (crashed, timed out): the host's verdict is 'not passed'."""
        if request.meta.get("ogi_wall", ())[-1:] != ("browser",) and "ogi_capture" not in request.meta:
            return None
        name = host_of(request.url)
        host = self.hosts.setdefault(name, HostState())
        if host.passed:
            return None
        if isinstance(exception, IgnoreRequest):
            if host.mode == "probing" and host.verdict is not None:
                host.mode, verdict, host.verdict = "plain", host.verdict, None
                verdict.set()
            return None
        self._fail(request, name, host, f"the browser failed: {type(exception).__name__}: {exception}"[:300])
        return None

    def _answered(self, request: Request, name: str, host: HostState, response: Response) -> None:
        if "cookie" in request.meta.get("ogi_wall", ()):
            logger.info("%s: its WAF interstitial let the request in with the cookie of its first answer", name)
            self._unblock(request, name)
        if 200 <= response.status < 400 and host.mode == "plain" and not host.answered:
            host.answered = True
            if host.remembered:  # tried plainly again after OGI_BROWSER_RECHECK_DAYS: the wall is down
                browser_hosts.forget(self.services.state.db, name)
                host.remembered = False

    def _after_wall(self, request: Request, response: Response, reason: str, name: str, host: HostState) -> Any:
        tried = request.meta.get("ogi_wall", ())
        if not tried and response.status != 412 and response.headers.get("Set-Cookie"):
            return self._again(request, "cookie")  # a WAF interstitial that only wants its cookie back
        if self.off or "browser" in tried or not browser_may_pass(reason) or host.mode == "failed":
            return response
        if host.mode == "plain" and host.answered:
            return response  # a wall in front of one path of a host that answers: not the host's
        if host.mode == "probing" and host.verdict is not None:
            return self._after_verdict(request, response, reason, name, host)
        if host.mode == "cookies":
            if request.meta.get("ogi_cookie_generation", -1) < host.generation and "fresh" not in tried:
                return self._again(request, "fresh")  # sent before the browser's cookies were in the jar
            host.mode, host.cookies_failed = "browser", True
            logger.warning("%s: the cookies the browser earned do not work for plain requests; "
                           "its pages go through the browser", name)
        if host.mode == "plain":
            host.mode, host.reason, host.verdict = "probing", reason, asyncio.Event()
            self.services.blocked.excuse(name)  # the walls met meanwhile must not make the scope guard drop the visit
            logger.info("%s: %s; trying a browser", name, reason)
        return self._again(request, "browser")

    async def _after_verdict(self, request: Request, response: Response, reason: str, name: str, host: HostState) -> Any:
        """Another wall while the host's first browser visit is under way: wait for its verdict."""
        assert host.verdict is not None
        timeout = self.wait * (self.reloads + 2) + 30
        try:
            await asyncio.wait_for(host.verdict.wait(), timeout=timeout)
        except TimeoutError:
            if host.mode == "probing":
                self._fail(request, name, host, f"{reason}; no answer from the browser in {timeout:g} s")
            return response
        if host.mode == "failed":
            return response
        return self._after_wall(request, response, reason, name, host)

    def _after_browser(self, request: Request, response: Response, fetch: Any, name: str, host: HostState) -> Response:
        capture: Capture = request.meta["ogi_capture"]
        self._keep_cookies(request, capture.cookies)
        host.generation += 1
        if fetch.outcome == "blocked":
            if not host.passed:
                self._fail(request, name, host, f"{host.reason or fetch.error}; a browser did not get past it: {fetch.error}")
            return response
        if not host.passed:
            host.passed, host.reason = True, host.reason or "remembered from an earlier crawl"
            logger.warning("%s: %s; passed in a browser (%s), its pages are archived from there",
                           name, host.reason, capture.browser)
            browser_hosts.remember(self.services.state.db, name, host.reason)
            self._unblock(request, name, f"{host.reason}; passed in {capture.browser}")
        host.mode = "browser" if host.cookies_failed else "cookies"
        if host.verdict is not None:
            host.verdict.set()
        return response

    def _unblock(self, request: Request, name: str, how: str = "") -> None:
        """The host's wall was passed: its earlier walls no longer count, and the run lists it under
        ``browser`` (``how``), not ``blocked``."""
        self.services.blocked.excuse(name)
        counts = self.services.state.counts.get((request.meta.get("ogi") or {}).get("run_id"))
        if counts is not None:
            counts.blocked.pop(name, None)
            if how:
                counts.browser[name] = how

    def _fail(self, request: Request, name: str, host: HostState, reason: str) -> None:
        host.mode = "failed"
        logger.warning("%s stays blocked: %s", name, reason)
        run = (request.meta.get("ogi") or {}).get("run_id")
        self.services.blocked.unexcuse(name)
        if run in self.services.state.counts:
            self.services.state.counts[run].blocked[name] = reason
        if host.verdict is not None:
            host.verdict.set()

    def _keep_cookies(self, request: Request, cookies: list[dict[str, Any]]) -> None:
        """The browser's cookies into Scrapy's jar, so plain requests (attachments first) carry them."""
        if self._jar is None:
            middlewares = self.crawler.engine.downloader.middleware.middlewares
            cookie_mw = next((m for m in middlewares if isinstance(m, CookiesMiddleware)), None)
            if cookie_mw is None:
                return
            self._jar = cookie_mw.jars
        jar = self._jar[request.meta.get("cookiejar")]
        for c in cookies:
            domain = c.get("domain", "")
            expires = c.get("expires", -1)
            jar.set_cookie(Cookie(
                0, c["name"], c["value"], None, False, domain, domain.startswith("."), domain.startswith("."),
                c.get("path", "/"), True, bool(c.get("secure")), int(expires) if expires and expires > 0 else None,
                not expires or expires <= 0, None, None, {"HttpOnly": ""} if c.get("httpOnly") else {}))


class FetchedBySpiderMiddleware:
    """Spider middleware: a report whose page came through the browser says so in its version's
    meta (``fetched_by``), which the record's provenance shows (``pipelines.provenance.fetched``)."""

    def process_spider_output(self, response: Response, result: Any) -> Any:
        for item in result:
            yield self._mark(response, item)

    async def process_spider_output_async(self, response: Response, result: Any) -> Any:
        async for item in result:
            yield self._mark(response, item)

    @staticmethod
    def _mark(response: Response, item: Any) -> Any:
        how = response.meta.get("ogi_fetched_by") or ("browser-cookies" if "ogi_cookie_generation" in response.meta else "")
        if how and isinstance(item, dict) and "candidate" in item:
            item["candidate"].meta["fetched_by"] = how
        return item
