"""Scrapy settings of the ogi-archive crawler: polite by default, everything recorded.

Used by ``scrapy crawl reports`` in the checkout (scrapy.cfg) and by ``ogi crawl``, which
starts from these and applies ``-s NAME=VALUE`` on top. Government portals are small,
slow and often fragile: AutoThrottle and two requests per host at a time are the defaults;
benchmarks and tests lower the delays explicitly.

OGI_* settings (besides Scrapy's own):
  OGI_SETTINGS        a domain.config.Settings object (default: load_settings(), by crawler.services.OgiSettingsAddon)
  OGI_KIND            manual | incremental | full
  OGI_MAX_DOWNLOAD_MB the download size cap, on the wire and decompressed (default: Settings.max_download_mb)
  OGI_MAX_LINKS_PER_PAGE  links taken from one page, the best-scored first (the rest are counted as skipped)
  OGI_FLUSH_ROWS / OGI_FLUSH_INTERVAL   database batch size and period
  OGI_BROWSER         on | off: hosts behind a JavaScript challenge fetched through Chromium (crawler/browser.py)
  OGI_CHROMIUM        the Chromium executable (default: ``chromium`` on PATH); missing: browser fetching is off
  OGI_BROWSER_PAGES   browser pages open at once in the whole crawl (per-host politeness is unchanged)
  OGI_BROWSER_WAIT / OGI_BROWSER_RELOADS   seconds a challenge gets to reload its page, and how many times
  OGI_BROWSER_RECHECK_DAYS   a host remembered as needing the browser is tried plainly again after this
"""
from __future__ import annotations

BOT_NAME = "ogi-archive"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

# USER_AGENT and OGI_MAX_DOWNLOAD_MB come from OGI_SETTINGS (crawler.services.OgiSettingsAddon).
ADDONS = {"crawler.services.OgiSettingsAddon": 0, "crawler.browser.BrowserAddon": 10}
# The archive, the crawl state and the blocked hosts, for the spider, middlewares and pipeline.
EXTENSIONS = {"crawler.services.CrawlServices": 0}
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
# The cap is enforced by crawler.middlewares.RecordMiddleware so that what was received is archived,
# and on decompressed bytes by crawler.middlewares.BoundedDecompressionMiddleware.
DOWNLOAD_MAXSIZE = 0
DOWNLOAD_WARNSIZE = 0
# A real column page has hundreds of links; a page with 100,000 must not flood the frontier.
OGI_MAX_LINKS_PER_PAGE = 3000
OGI_KIND = "manual"
OGI_FLUSH_ROWS = 500
OGI_FLUSH_INTERVAL = 0.5
OGI_BROWSER = "on"
OGI_BROWSER_PAGES = 2
OGI_BROWSER_WAIT = 3.0
OGI_BROWSER_RELOADS = 4
OGI_BROWSER_RECHECK_DAYS = 30

# Error pages are content too: the spider sees every status (the recorder has classified it).
HTTPERROR_ALLOW_ALL = True
COOKIES_ENABLED = True
TELNETCONSOLE_ENABLED = False
LOG_LEVEL = "INFO"

DOWNLOADER_MIDDLEWARES = {
    "crawler.middlewares.ScopeMiddleware": 50,
    "crawler.middlewares.ConditionalMiddleware": 60,
    "crawler.middlewares.RecordMiddleware": 585,
    "crawler.browser.BrowserMiddleware": 580,
    "scrapy.downloadermiddlewares.httpcompression.HttpCompressionMiddleware": None,
    "crawler.middlewares.BoundedDecompressionMiddleware": 590,
    "scrapy.downloadermiddlewares.redirect.RedirectMiddleware": None,
    "crawler.middlewares.RecordingRedirectMiddleware": 600,
    "scrapy.downloadermiddlewares.cookies.CookiesMiddleware": None,
    "crawler.middlewares.OfflineCookiesMiddleware": 700,
    "crawler.browser.BrowserExchangeMiddleware": 750,
    # Scope is enforced per source by ScopeMiddleware.
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
}
SPIDER_MIDDLEWARES = {
    # Depth is counted by the spider (pagination does not deepen a crawl).
    "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
    "crawler.browser.FetchedBySpiderMiddleware": 950,
}
ITEM_PIPELINES = {"crawler.archive_pipeline.ArchivePipeline": 300}
