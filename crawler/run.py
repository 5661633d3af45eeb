"""``run_crawl``: the reports spider in-process; what follows it is the caller's.

Twisted's reactor cannot be restarted, so this runs once per process; callers that need
several crawls (tests, the scheduler) start ``ogi crawl`` in a subprocess. Extraction is not
part of the crawl, so slow documents never hold up fetching: the caller runs the after-crawl
flow (``flow.after_crawl.after_crawl``) on the run ids of the summary.

One process crawls a whole batch of sources (the nightly gives it hundreds): Scrapy keeps one
download slot per host, so each portal gets its own polite rate while hundreds are in flight.
A source's ``overrides.schedule.crawl_settings`` that concern its hosts (:data:`PER_HOST_SETTINGS`)
become ``DOWNLOAD_SLOTS`` entries and per-request meta, so they hold inside a batch; and
:class:`BudgetMiddleware` gives every source its own page and time budget, so one slow or
hanging portal never holds up the batch beyond it (its run's ``stats["blocked"]`` says why).
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response
from scrapy.settings import BaseSettings
from scrapy.settings import Settings as ScrapySettings

from crawler import settings as default_settings
from crawler.scope import host_of
from crawler.services import CrawlServices
from crawler.sources import resolve_sources
from crawler.spiders.reports import _NAV_ROLES, ReportsSpider
from crawler.state import CrawlState, close_status
from domain.config import Settings
from storage.db import Database
from storage.runs import RunCounts

logger = logging.getLogger(__name__)


@dataclass
class CrawlSummary(RunCounts):
    """What a crawl did, for the CLI summary, the scheduler and tests: the sum of its runs'
    counts (named as the ``CrawlRun`` columns) and how it ended."""

    status: str = "failed"  # finished | failed | interrupted
    reason: str = ""
    run_ids: list[int] = field(default_factory=list)
    extracted: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "pages_per_second": round(self.pages_per_second, 2)}


def summarize(state: CrawlState, reason: str, seconds: float) -> CrawlSummary:
    summary = CrawlSummary(status=close_status(reason)[0], reason=reason, run_ids=sorted(state.counts), seconds=seconds)
    for counts in state.counts.values():
        summary.add(counts)
    return summary


# What a source may set for its own hosts inside a batch; anything else in its crawl_settings
# applies to a whole process (the nightly gives such sources a batch of their own).
PER_HOST_SETTINGS = frozenset({"DOWNLOAD_DELAY", "CONCURRENT_REQUESTS_PER_DOMAIN", "AUTOTHROTTLE_ENABLED",
                               "DOWNLOAD_TIMEOUT", "OGI_SOURCE_MAX_PAGES", "OGI_SOURCE_MAX_SECONDS"})
# Scrapy's broad-crawl guidance (docs: "Broad Crawls"), for a process crawling many sources:
# politeness is per host (download slots), so the process-wide limits must not be the bottleneck.
BROAD_CRAWL = MappingProxyType({"REACTOR_THREADPOOL_MAXSIZE": 20, "DNSCACHE_SIZE": 50_000, "DNS_TIMEOUT": 20,
                                "LOG_LEVEL": "INFO", "CONCURRENT_ITEMS": 200})
MAX_CONCURRENT_REQUESTS = 1000


@dataclass(frozen=True)
class SourcePlan:
    """What a batch needs to know about one source before Scrapy starts: its hosts and its settings."""

    id: int
    name: str
    hosts: tuple[str, ...]
    crawl_settings: dict[str, Any]

    @property
    def per_host(self) -> dict[str, Any]:
        return {k: v for k, v in self.crawl_settings.items() if k in PER_HOST_SETTINGS}


def source_crawl_settings(overrides: dict[str, Any] | None) -> dict[str, Any]:
    """A source's ``overrides.schedule.crawl_settings`` (Scrapy settings for its crawls)."""
    return dict(((overrides or {}).get("schedule") or {}).get("crawl_settings") or {})


def download_slots(plans: Iterable[SourcePlan], base: ScrapySettings) -> dict[str, dict[str, Any]]:
    """``DOWNLOAD_SLOTS`` for the sources that set their own delay or concurrency.

    A delay a portal asked for is a floor, so its slots get no jitter (Scrapy's default
    jitter would send some requests at half the delay).
    """
    slots = {}
    for plan in plans:
        own = plan.per_host
        if "DOWNLOAD_DELAY" not in own and "CONCURRENT_REQUESTS_PER_DOMAIN" not in own:
            continue
        slot = {"delay": float(own.get("DOWNLOAD_DELAY", base.getfloat("DOWNLOAD_DELAY"))),
                "concurrency": int(own.get("CONCURRENT_REQUESTS_PER_DOMAIN", base.getint("CONCURRENT_REQUESTS_PER_DOMAIN")))}
        if "DOWNLOAD_DELAY" in own:
            slot["jitter"] = 0.0
        slots.update((host, slot) for host in plan.hosts)
    return slots


def build_scrapy_settings(settings: Settings, *, kind: str, max_pages: int | None,
                          overrides: dict[str, Any] | None, plans: Iterable[SourcePlan] = ()) -> ScrapySettings:
    """crawler.settings + the run's options + ``-s`` overrides (last wins, as with ``scrapy crawl -s``).

    With several sources, the broad-crawl settings apply and each source's per-host settings
    become its hosts' download slots; ``-s`` still wins over both.
    """
    plans = list(plans)
    result = ScrapySettings()
    result.setmodule(default_settings, priority="project")
    result.set("OGI_SETTINGS", settings, priority="cmdline")
    result.set("OGI_KIND", kind, priority="cmdline")
    result.set("OGI_SOURCE_MAX_PAGES", settings.source_page_budget, priority="project")
    result.set("OGI_SOURCE_MAX_SECONDS", settings.source_time_budget_s, priority="project")
    result.set("DOWNLOADER_MIDDLEWARES", {**result.getdict("DOWNLOADER_MIDDLEWARES"), "crawler.run.BudgetMiddleware": 40},
               priority="project")
    if len(plans) > 1:
        result.update(dict(BROAD_CRAWL), priority="project")
        hosts = sum(len(p.hosts) for p in plans)
        per_host = result.getint("CONCURRENT_REQUESTS_PER_DOMAIN")
        wanted = max(result.getint("CONCURRENT_REQUESTS"), hosts * per_host)
        result.set("CONCURRENT_REQUESTS", min(MAX_CONCURRENT_REQUESTS, wanted), priority="project")
    if max_pages:
        result.set("CLOSESPIDER_PAGECOUNT", max_pages, priority="cmdline")
    for name, value in (overrides or {}).items():
        result.set(name, value, priority="cmdline")
    result.set("DOWNLOAD_SLOTS", {**download_slots(plans, result), **result.getdict("DOWNLOAD_SLOTS")}, priority="cmdline")
    result.set("OGI_SOURCE_SETTINGS", {p.id: p.per_host for p in plans}, priority="cmdline")
    result.set("OGI_SOURCE_HOSTS", {host: p.id for p in plans for host in p.hosts}, priority="cmdline")
    if logging.root.handlers:
        # The caller (the ogi CLI) has set up logging: Scrapy's root handler would lower the
        # root level to NOTSET and send every DEBUG line through the caller's handler too.
        result.set("LOG_INSTALL_ROOT_HANDLER", False, priority="cmdline")
        if "LOG_LEVEL" in (overrides or {}):
            logging.root.setLevel(str(overrides["LOG_LEVEL"]).upper())
    return result


@dataclass(frozen=True)
class Budget:
    pages: int
    seconds: float
    timeout: float
    autothrottle: bool


class BudgetMiddleware:
    """Each source's page and time budget inside a batch, counted from its first request.

    When a source has spent its budget, its pending requests are dropped (skipped as
    ``budget``; a dropped navigation page makes the run unable to prove any report gone, so
    nothing is withdrawn) and the run's ``blocked`` stats say which budget was spent. Requests
    in flight, robots.txt included, get a download timeout no longer than what is left, so a
    portal that trickles bytes or never answers is cut at its budget too.
    """

    def __init__(self, services: CrawlServices, s: BaseSettings) -> None:
        self.services = services
        self.default = {name: s.get(name) for name in ("OGI_SOURCE_MAX_PAGES", "OGI_SOURCE_MAX_SECONDS",
                                                       "DOWNLOAD_TIMEOUT", "AUTOTHROTTLE_ENABLED")}
        self.per_source: dict[Any, dict[str, Any]] = s.getdict("OGI_SOURCE_SETTINGS")
        self.hosts: dict[str, Any] = s.getdict("OGI_SOURCE_HOSTS")  # host -> source id (for robots.txt)
        self.started: dict[Any, float] = {}
        self.pages: Counter[Any] = Counter()
        self.spent: dict[Any, str] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BudgetMiddleware:
        return cls(CrawlServices.of(crawler), crawler.settings)

    def _key(self, run_id: int | None, request: Request) -> Any:
        """The source a request is spent from: its run's source (or the ad-hoc run), else its host's."""
        if run_id is None:
            return self.hosts.get(host_of(request.url))
        run = self.services.state.runs.get(run_id)
        return run.source_id if run is not None and run.source_id is not None else ("run", run_id)

    def budget(self, key: Any) -> Budget:
        own = {**self.default, **self.per_source.get(key, {})}
        return Budget(int(own["OGI_SOURCE_MAX_PAGES"]), float(own["OGI_SOURCE_MAX_SECONDS"]), float(own["DOWNLOAD_TIMEOUT"]),
                      str(own["AUTOTHROTTLE_ENABLED"]).lower() in {"1", "true", "yes", "on"})

    def process_request(self, request: Request) -> None:
        ctx = request.meta.get("ogi") or {}
        key = self._key(ctx.get("run_id"), request)
        if key is None:
            return
        budget = self.budget(key)
        elapsed = time.monotonic() - self.started.setdefault(key, time.monotonic())
        left = budget.seconds - elapsed if budget.seconds else float("inf")
        why = self.spent.get(key) or (
            f"page budget spent ({budget.pages} pages)" if budget.pages and self.pages[key] >= budget.pages
            else f"time budget spent ({budget.seconds:g} s)" if left <= 0 else "")
        if why and ctx.get("run_id") is not None:
            self._drop(key, ctx, request, why)
        request.meta["download_timeout"] = max(0.5, min(float(request.meta.get("download_timeout", budget.timeout)), left))
        if not budget.autothrottle:
            request.meta["autothrottle_dont_adjust_delay"] = True

    def process_response(self, request: Request, response: Response) -> Response:
        run_id = (request.meta.get("ogi") or {}).get("run_id")
        if run_id is not None:
            self.pages[self._key(run_id, request)] += 1
        return response

    def _drop(self, key: Any, ctx: dict[str, Any], request: Request, why: str) -> None:
        state, run_id = self.services.state, ctx["run_id"]
        if key not in self.spent:
            self.spent[key] = why
            state.blocked_host(run_id, host_of(request.url), why)
            logger.warning("run %s: %s; its remaining requests are dropped", run_id, why)
        if ctx.get("role") in _NAV_ROLES and ctx.get("key"):
            state.nav_failed(run_id, ctx["key"])
        request.meta["ogi_skip"] = "budget"
        raise IgnoreRequest(why)


def run_crawl(
    settings: Settings,
    *,
    urls: Iterable[str] = (),
    sources: Iterable[str] = (),
    kind: str = "manual",
    max_pages: int | None = None,
    scrapy_settings: dict[str, Any] | None = None,
    progress: bool | Callable[[CrawlState], None] = False,
) -> CrawlSummary:
    """Crawl ``urls`` and/or named ``sources`` into the archive; return the summary.

    ``scrapy_settings`` sets any Scrapy setting (as ``scrapy crawl -s`` does).
    ``progress`` is True for the built-in display, or a callable(state) called twice a second.
    """
    urls, sources = list(urls), list(sources)
    if not urls and not sources:
        raise ValueError("nothing to crawl: give start URLs or source names")
    plans = check_inputs(settings, sources)
    display = None
    if progress is True:
        from crawler.progress import ProgressDisplay

        display = ProgressDisplay()
        callback = display.update
    else:
        callback = progress or None
    process = CrawlerProcess(build_scrapy_settings(settings, kind=kind, max_pages=max_pages, overrides=scrapy_settings,
                                                   plans=plans))
    if logging.root.handlers:
        # Scrapy sets its logger to DEBUG for its own root handler to filter; with the caller's
        # handler instead, every "Crawled (200)" record would be built only to be dropped.
        logging.getLogger("scrapy").setLevel(logging.root.getEffectiveLevel())
    crawler = process.create_crawler(ReportsSpider)
    started = time.monotonic()
    try:
        if display is not None:
            display.start()
        process.crawl(crawler, urls=urls, sources=sources, kind=kind, progress=callback)
        process.start()
    finally:
        if display is not None:
            display.stop()
    try:
        services = crawler.get_extension(CrawlServices)
    except RuntimeError:  # the crawl stopped before its extensions were built
        services = None
    if services is None or not services.state.counts:
        return CrawlSummary(status="failed", reason="the crawl did not start (see the log)", seconds=time.monotonic() - started)
    summary = summarize(services.state, services.close_reason or "failed", time.monotonic() - started)
    services.state.db.dispose()
    return summary


def check_inputs(settings: Settings, sources: list[str]) -> list[SourcePlan]:
    """Fail before Scrapy starts when the database cannot be opened or a source is unknown.

    Inside the crawl such errors would only be logged; here they stop the command with a
    clear message (and a non-zero exit code). Returns the sources' plans for the settings.
    """
    db = Database(settings.db_url)
    try:
        if not sources:
            return []
        with db.session() as session:
            return [SourcePlan(src.id, src.name, _hosts(src.start_urls, src.allowed_domains),
                               source_crawl_settings(src.overrides)) for src in resolve_sources(session, sources, settings)]
    finally:
        db.dispose()


def _hosts(start_urls: Iterable[str], allowed_domains: Iterable[str]) -> tuple[str, ...]:
    """The hosts a source's requests go to, as Scrapy names their download slots."""
    hosts = {host_of(u) for u in start_urls} | {d.lower() for d in allowed_domains}
    return tuple(sorted(h for h in hosts if h))
