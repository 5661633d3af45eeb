"""What a crawl's Scrapy components share: ogi's settings, the archive, the crawl state.

Scrapy's way, rather than attributes of the spider: :class:`OgiSettingsAddon` (``ADDONS``)
applies ogi's :class:`~domain.config.Settings` to Scrapy's settings before anything is
built, and :class:`CrawlServices` (``EXTENSIONS``) is built once per crawler, before the
spider, the middlewares and the item pipeline, which take it in their ``from_crawler``
(``CrawlServices.of(crawler)``). So any spider can use the middlewares, and nothing is
loaded or opened when a module is imported.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.utils.defer import deferred_from_coro

from crawler.blocked import BlockedHosts
from crawler.scope import host_of
from crawler.state import CrawlState
from domain.config import Settings, load_settings
from storage.archive_meta import remember_data_dir
from storage.blobs import BlobStore
from storage.db import Database
from storage.warc import WarcStore

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)


class OgiSettingsAddon:
    """Scrapy add-on: the user agent and the download size cap from ogi's settings.

    ``ogi crawl`` passes its settings as ``OGI_SETTINGS``; ``scrapy crawl reports`` in the
    checkout has none, so they are loaded here (from ``OGI_*`` environment variables and the
    config file), when the crawler is built rather than when a module is imported. ``-s``
    overrides and ``crawler.settings`` (project priority) still win over the add-on's values.
    """

    def update_settings(self, settings: BaseSettings) -> None:
        ogi: Settings = settings.get("OGI_SETTINGS") or load_settings()
        settings.set("OGI_SETTINGS", ogi, priority="addon")
        settings.set("USER_AGENT", ogi.user_agent, priority="addon")
        settings.set("OGI_MAX_DOWNLOAD_MB", ogi.max_download_mb, priority="addon")


class CrawlServices:
    """Scrapy extension owning the archive (WARC files, blob store), the crawl state and the
    blocked-host registry of one crawler; it flushes the state while the spider runs and
    closes the runs when it stops."""

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        self.ogi: Settings = settings["OGI_SETTINGS"]
        self.state = CrawlState(Database(self.ogi.db_url), kind=settings.get("OGI_KIND", "manual"),
                                flush_rows=settings.getint("OGI_FLUSH_ROWS", 500),
                                flush_interval=settings.getfloat("OGI_FLUSH_INTERVAL", 0.5))
        self.warc = WarcStore(self.ogi.warc_dir)
        self.blobs = BlobStore(self.ogi.blob_dir)
        self.blocked = BlockedHosts()
        self.progress: Callable[[CrawlState], None] | None = None  # ``ogi crawl``'s display, twice a second
        self.close_reason = ""
        self._crawler = crawler
        self._stopping = False
        self._loop: Any = None
        remember_data_dir(self.state.db, self.ogi.data_dir)  # so readers (ogi serve --db) find the blobs from anywhere
        crawler.signals.connect(self._opened, signal=signals.spider_opened)
        crawler.signals.connect(self._closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlServices:
        return cls(crawler)

    @staticmethod
    def of(crawler: Crawler) -> CrawlServices:
        """The crawler's services (for the from_crawler of the spider, middlewares and pipeline)."""
        services = crawler.get_extension(CrawlServices)
        if services is None:
            raise RuntimeError("crawler.services.CrawlServices is not in EXTENSIONS (see crawler/settings.py)")
        return services

    def note_blocked(self, run_id: int, url: str, reason: str) -> None:
        """An anti-bot wall: counted per host for the scope guard, and kept in the run's counts."""
        host = host_of(url)
        self.blocked.note(host)
        self.state.blocked_host(run_id, host, reason)

    def _opened(self) -> None:
        from twisted.internet import task  # importing it earlier would install the wrong reactor

        self._loop = task.LoopingCall(self._tick)
        self._loop.start(self.state.flush_interval, now=False)

    def _tick(self) -> None:
        self.state.maybe_flush()
        if self.state.write_failure and not self._stopping:  # a full disk, a database gone: later pages would be lost work
            self._stopping = True
            logger.error("stopping the crawl: %s", self.state.write_failure)
            deferred_from_coro(self._crawler.engine.close_spider_async(reason="storage_failed"))
        if self.progress:
            self.progress(self.state)

    def _closed(self, reason: str) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self.close_reason = reason
        try:
            self.state.finish(reason)
        except Exception as exc:
            # The runs could not be closed (the database is gone): the crawl failed, and says why
            # (``ogi crawl`` exits 1; the nightly marks the runs failed with this reason).
            self.close_reason = f"failed: {self.state.write_failure or exc}"
            raise
        finally:
            self.warc.close()
        if self.progress:
            self.progress(self.state)
