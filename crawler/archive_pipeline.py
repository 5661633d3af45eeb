"""Item pipeline: keep a report's original bytes once (by SHA-256) and record its version.

The database write is queued in :class:`crawler.state.CrawlState` and happens in the next
batch, inside the same transaction as the frontier update of the page that produced it; the
blob file is written by the same background writer just before that batch, so the reactor
only hashes the bytes.
Extraction is not done here: it runs after the crawl (``pipelines.worker.extract_pending``),
so a slow PDF never holds up fetching.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crawler.services import CrawlServices
from storage.blobs import sha256_hex

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


class ArchivePipeline:
    def __init__(self, services: CrawlServices) -> None:
        self.services = services

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArchivePipeline:
        return cls(CrawlServices.of(crawler))

    def process_item(self, item: dict[str, Any]) -> dict[str, Any]:
        body: bytes = item.pop("body")
        candidate = item["candidate"]
        digest = candidate.sha256 = sha256_hex(body)
        blobs = self.services.blobs
        self.services.state.report(item["run_id"], item["source_id"], candidate, len(body),
                                   archive=lambda: blobs.put(body, digest))
        return item
