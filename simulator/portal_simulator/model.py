"""What a simulated portal publishes, and the ground truth tests check a crawl against.

An :class:`Article` is one CMS document (a page, optionally with attachments); when it is an
annual report, ``report`` says so and where the report's bytes are (the page itself for an
inline report, else its first attachment). :class:`Manifest` is the answer key: every report
URL (with year, agency, template, inline vs attachment), every URL that is not a report, the
traps and the robots-disallowed URLs. Sites and the HTTP server never consult the manifest;
it is derived from the same articles the pages are rendered from.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Attachment:
    """A file linked from an article: ``filename`` is what users see, ``slug`` names the URL."""

    filename: str
    data: bytes
    content_type: str
    slug: str
    disposition: str = "utf8"  # Hanweb downloads: "utf8" (RFC 5987 filename*) or "gbk" (raw GBK bytes)
    path: str = ""  # set by the site family

    @property
    def format(self) -> str:
        return self.filename.rsplit(".", 1)[-1].lower()


@dataclass
class Report:
    """Ground truth for an article that is an annual report."""

    year: int
    agency: str
    template: str
    kind: str  # "inline" (the article page is the report) | "attachment" (its first attachment is)


@dataclass
class Article:
    key: str
    title: str
    published: datetime
    column: str
    doc_id: int
    blocks: list[tuple[str, object]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    report: Report | None = None
    source: str = ""  # what the content was built from (for revisions)
    listed: bool = True  # shown in its column's list
    gone: int = 0  # 404/410 once removed; 0 while published
    path: str = ""  # set by the site family
    revision: int = 0
    served_as: str = ""  # a Content-Type other than the family's for the article page (a misconfigured server)


@dataclass(frozen=True)
class ManifestReport:
    """One annual report as the portal publishes it right now (absolute URLs)."""

    key: str
    site: str
    family: str
    url: str  # where the report's bytes are: the article page (inline) or the attachment
    page_url: str  # the article page that presents it
    title: str
    year: int
    agency: str
    template: str
    kind: str  # inline | attachment
    format: str  # html | pdf | docx | doc | wps
    sha256: str
    status: str = "current"  # current | withdrawn


@dataclass(frozen=True)
class Trap:
    """A URL meant to hurt a crawler, and what a correct crawler does with it."""

    # robots | calendar | endless_page | repeated_segments | challenge_412 | waf | flaky_503 | html_as_pdf | truncated_pdf
    # | oversized | redirect_loop | slow
    kind: str
    url: str
    expect: str  # "never_fetched" | "bounded" (followed only a few times) | "blocked" | "error" | "retried"
    site: str


@dataclass
class Manifest:
    reports: list[ManifestReport]
    withdrawn: list[ManifestReport]
    not_reports: list[str]  # pages and files that must never become reports (noise articles, budgets, ...)
    traps: list[Trap]
    forbidden: list[str]  # robots-disallowed URLs: never requested

    def report_urls(self) -> set[str]:
        return {r.url for r in self.reports}

    def by_key(self, key: str) -> ManifestReport:
        return next(r for r in self.reports + self.withdrawn if r.key == key)

    def traps_of(self, kind: str) -> list[Trap]:
        return [t for t in self.traps if t.kind == kind]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
