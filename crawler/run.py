"""``run_crawl``: the reports spider in-process, then extraction of what it archived.

Twisted's reactor cannot be restarted, so this runs once per process; callers that need
several crawls (tests, the scheduler) start ``ogi crawl`` in a subprocess. Extraction runs
after the crawl, not during it, so slow documents never hold up fetching; a separate worker
can do the same job (``pipelines.worker.extract_pending``).
"""
from __future__ import annotations

import importlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings as ScrapySettings

from crawler import settings as default_settings
from crawler.spiders.reports import ReportsSpider
from crawler.sources import resolve_sources
from crawler.state import CrawlState
from ogi.config import Settings
from storage.blobs import BlobStore
from storage.db import Database

logger = logging.getLogger(__name__)


@dataclass
class CrawlSummary:
    """What a crawl did, for the CLI summary, the scheduler and tests."""

    status: str = "failed"  # finished | failed | interrupted
    reason: str = ""
    run_ids: list[int] = field(default_factory=list)
    pages: int = 0
    bytes: int = 0
    reports_new: int = 0
    reports_changed: int = 0
    reports_unchanged: int = 0
    not_modified: int = 0
    reports_withdrawn: int = 0
    errors: int = 0
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    blocked: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    extracted: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "pages_per_second": round(self.pages_per_second, 2)}


def summarize(state: CrawlState, reason: str, seconds: float) -> CrawlSummary:
    summary = CrawlSummary(reason=reason, run_ids=sorted(state.counts), seconds=seconds)
    errors: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    for c in state.counts.values():
        summary.pages += c.pages
        summary.bytes += c.bytes
        summary.reports_new += c.new
        summary.reports_changed += c.changed
        summary.reports_unchanged += c.unchanged
        summary.not_modified += c.not_modified
        summary.reports_withdrawn += c.withdrawn
        summary.errors += c.errors
        errors.update(c.errors_by_kind)
        skipped.update(c.skipped)
        summary.blocked.update(c.blocked)
    summary.errors_by_kind, summary.skipped = dict(errors), dict(skipped)
    summary.status = {"finished": "finished", "shutdown": "interrupted"}.get(reason, "finished" if reason.startswith("closespider") else "failed")
    return summary


def build_scrapy_settings(settings: Settings, *, kind: str, max_pages: int | None,
                          overrides: dict[str, Any] | None) -> ScrapySettings:
    """crawler.settings + the run's options + ``-s`` overrides (last wins, as with ``scrapy crawl -s``)."""
    result = ScrapySettings()
    result.setmodule(default_settings, priority="project")
    result.set("USER_AGENT", settings.user_agent, priority="project")
    result.set("OGI_MAX_DOWNLOAD_MB", settings.max_download_mb, priority="project")
    result.set("OGI_SETTINGS", settings, priority="cmdline")
    result.set("OGI_KIND", kind, priority="cmdline")
    if max_pages:
        result.set("CLOSESPIDER_PAGECOUNT", max_pages, priority="cmdline")
    for name, value in (overrides or {}).items():
        result.set(name, value, priority="cmdline")
    if logging.root.handlers:
        # The caller (the ogi CLI) has set up logging: Scrapy's root handler would lower the
        # root level to NOTSET and send every DEBUG line through the caller's handler too.
        result.set("LOG_INSTALL_ROOT_HANDLER", False, priority="cmdline")
        if "LOG_LEVEL" in (overrides or {}):
            logging.root.setLevel(str(overrides["LOG_LEVEL"]).upper())
    return result


def run_crawl(
    settings: Settings,
    *,
    urls: Iterable[str] = (),
    sources: Iterable[str] = (),
    kind: str = "manual",
    max_pages: int | None = None,
    scrapy_settings: dict[str, Any] | None = None,
    progress: bool | Callable[[CrawlState], None] = False,
    extract: bool = True,
) -> CrawlSummary:
    """Crawl ``urls`` and/or named ``sources`` into the archive; return the summary.

    ``scrapy_settings`` sets any Scrapy setting (as ``scrapy crawl -s`` does).
    ``progress`` is True for the built-in display, or a callable(state) called twice a second.
    """
    urls, sources = list(urls), list(sources)
    if not urls and not sources:
        raise ValueError("nothing to crawl: give start URLs or source names")
    check_inputs(settings, sources)
    display = None
    if progress is True:
        from crawler.progress import ProgressDisplay

        display = ProgressDisplay()
        callback = display.update
    else:
        callback = progress or None
    process = CrawlerProcess(build_scrapy_settings(settings, kind=kind, max_pages=max_pages, overrides=scrapy_settings))
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
    spider = crawler.spider
    if spider is None or not getattr(spider, "state", None) or not spider.state.counts:
        return CrawlSummary(status="failed", reason="the crawl did not start (see the log)", seconds=time.monotonic() - started)
    summary = summarize(spider.state, spider.close_reason or "failed", time.monotonic() - started)
    if extract and summary.status != "failed":
        summary.extracted = extract_pending(spider.state.db, BlobStore(settings.blob_dir))
    spider.state.db.dispose()
    return summary


def check_inputs(settings: Settings, sources: list[str]) -> None:
    """Fail before Scrapy starts when the database cannot be opened or a source is unknown.

    Inside the crawl such errors would only be logged; here they stop the command with a
    clear message (and a non-zero exit code).
    """
    db = Database(settings.db_url)
    try:
        if sources:
            with db.session() as session:
                resolve_sources(session, sources, settings)
    finally:
        db.dispose()


def extract_pending(db: Any, blobs: BlobStore) -> dict[str, Any]:
    """Run the extraction worker over pending versions, when the extraction package has one."""
    try:
        worker = importlib.import_module("pipelines.worker")
    except ImportError:
        logger.info("pipelines.worker is not available: report versions stay pending extraction")
        return {}
    try:
        counts = worker.extract_pending(db, blobs)
    except Exception as exc:  # extraction problems must not turn a good crawl into a failed one
        logger.exception("extraction after the crawl failed")
        return {"error": f"{type(exc).__name__}: {exc}"}
    return dict(counts) if isinstance(counts, dict) else {"result": str(counts)}
