"""Where the crawler may go: the source's domains, and no crawler traps.

Traps are URL spaces without end that a focused crawler must not walk into: ever higher
``?page=N`` numbers, calendars (one page per day, forever), and relative links that stack
path segments (``/a/b/a/b/a/b/...``). The checks look at the URL only, so they cost
nothing per response and also stop redirects into a trap.
"""
from __future__ import annotations

import itertools
import re
from collections import Counter
from urllib.parse import parse_qsl, urlsplit

from w3lib.url import safe_url_string

MAX_URL_LENGTH = 600
MAX_PATH_DEPTH = 14
MAX_PAGE_NUMBER = 200
MAX_QUERY_PARAMS = 12
# The query parameters (lower case) that number a listing's pages on the CMSs we meet; the
# pager parser, the link classifier and the trap guard each add the forms only they need.
PAGE_PARAMS = frozenset({"page", "pageno", "pageindex", "curpage", "pagenum", "p", "pn"})
_PAGE_PARAMS = PAGE_PARAMS | {"currentpage", "start", "startrecord"}
_CALENDAR_PARAMS = frozenset({"date", "day", "month", "ym", "ymd", "cal", "calendar", "riqi"})
_CALENDAR_PATH = re.compile(r"(calendar|/rili/|/cal/|/\d{4}-\d{2}-\d{2}(?:/|$))", re.I)
_FILE_PAGE = re.compile(r"/(?:index|list|default)_(\d+)\.s?html?$", re.I)


def canonical_url(url: str) -> str:
    """The one form of a URL the crawl requests, records and looks up: what Scrapy sends
    (w3lib's ``safe_url_string``: non-ASCII as UTF-8 percent-escapes, spaces as %20), without
    a fragment. A link written raw (``附件/2023年报 终稿.pdf``) and its response URL, which
    Scrapy percent-encodes, then have one key, so validators and known reports are found."""
    return safe_url_string(url.split("#", 1)[0], "utf-8")


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def default_domains(urls: list[str] | tuple[str, ...]) -> list[str]:
    """Allowed domains for ad-hoc start URLs: each host without a leading ``www.``."""
    hosts = {host_of(u) for u in urls}
    return sorted(h[4:] if h.startswith("www.") else h for h in hosts if h)


def in_domains(url: str, domains: list[str] | tuple[str, ...] | frozenset[str]) -> bool:
    """True when the URL's host is one of ``domains`` or a subdomain of one."""
    host = host_of(url)
    return any(host == d or host.endswith("." + d) for d in domains)


def trap_reason(url: str) -> str:
    """Why ``url`` looks like a crawler trap ('' when it does not)."""
    if len(url) > MAX_URL_LENGTH:
        return f"URL longer than {MAX_URL_LENGTH} characters"
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) > MAX_PATH_DEPTH:
        return f"path deeper than {MAX_PATH_DEPTH} segments"
    repeated = [s for s, n in Counter(segments).items() if n >= 3 or (n >= 2 and not s.isdigit() and len(segments) > 6)]
    if repeated:
        return f"repeated path segment {repeated[0]!r}"
    pairs = Counter(itertools.pairwise(segments))
    if any(n >= 2 for n in pairs.values()):
        return "repeated path segments " + "/".join(pairs.most_common(1)[0][0])
    if _CALENDAR_PATH.search(parts.path):
        return "calendar page"
    params = parse_qsl(parts.query, keep_blank_values=True)
    if len(params) > MAX_QUERY_PARAMS:
        return f"more than {MAX_QUERY_PARAMS} query parameters"
    for key, value in params:
        key = key.lower()
        if key in _CALENDAR_PARAMS:
            return f"calendar parameter {key}={value}"
        if key in _PAGE_PARAMS and key != "startrecord" and value.isdigit() and int(value) > MAX_PAGE_NUMBER:
            return f"page number {value} above {MAX_PAGE_NUMBER}"
    m = _FILE_PAGE.search(parts.path)
    if m and int(m.group(1)) > MAX_PAGE_NUMBER:
        return f"listing page {m.group(1)} above {MAX_PAGE_NUMBER}"
    return ""
