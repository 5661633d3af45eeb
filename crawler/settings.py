"""Scrapy settings of the ogi-archive crawler: polite by default, everything recorded.

Used by ``scrapy crawl reports`` in the checkout (scrapy.cfg) and by ``ogi crawl``, which
starts from these and applies ``-s NAME=VALUE`` on top. Government portals are small,
slow and often fragile: AutoThrottle and two requests per host at a time are the defaults;
benchmarks and tests lower the delays explicitly.

OGI_* settings (besides Scrapy's own):
  OGI_SETTINGS        an ogi.config.Settings object (default: load_settings())
  OGI_KIND            manual | incremental | full
  OGI_MAX_DOWNLOAD_MB the download size cap (default: Settings.max_download_mb)
  OGI_FLUSH_ROWS / OGI_FLUSH_INTERVAL   database batch size and period
"""
from __future__ import annotations

from ogi.config import load_settings

_OGI = load_settings()

BOT_NAME = "ogi-archive"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

USER_AGENT = _OGI.user_agent
ROBOTSTXT_OBEY = True

CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 1.0
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
SCHEDULER_PRIORITY_QUEUE = "scrapy.pqueues.DownloaderAwarePriorityQueue"

# Navigation depth (home -> hubs -> column); pagination and report links do not count.
DEPTH_LIMIT = 8
DOWNLOAD_TIMEOUT = 30
RETRY_ENABLED = True
RETRY_TIMES = 2
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
REDIRECT_MAX_TIMES = 10
# Partial bodies are kept (and recorded as errors) rather than thrown away.
DOWNLOAD_FAIL_ON_DATALOSS = False
# The cap is enforced by crawler.middlewares.RecordMiddleware so that what was received is archived.
DOWNLOAD_MAXSIZE = 0
DOWNLOAD_WARNSIZE = 0
OGI_MAX_DOWNLOAD_MB = _OGI.max_download_mb
OGI_KIND = "manual"
OGI_FLUSH_ROWS = 500
OGI_FLUSH_INTERVAL = 0.5

# Error pages are content too: the spider sees every status (the recorder has classified it).
HTTPERROR_ALLOW_ALL = True
COOKIES_ENABLED = True
TELNETCONSOLE_ENABLED = False
LOG_LEVEL = "INFO"

DOWNLOADER_MIDDLEWARES = {
    "crawler.middlewares.ScopeMiddleware": 50,
    "crawler.middlewares.ConditionalMiddleware": 60,
    "crawler.middlewares.RecordMiddleware": 585,
    "scrapy.downloadermiddlewares.redirect.RedirectMiddleware": None,
    "crawler.middlewares.RecordingRedirectMiddleware": 600,
    # Scope is enforced per source by ScopeMiddleware.
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
}
SPIDER_MIDDLEWARES = {
    # Depth is counted by the spider (pagination does not deepen a crawl).
    "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
}
ITEM_PIPELINES = {"crawler.pipelines.ArchivePipeline": 300}
