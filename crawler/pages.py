"""Reading a fetched HTML page: decoded text, title candidates, links, publication date.

Decoding uses :func:`domain.chinese.decode_bytes` (a page labelled GB2312 is decoded as
GB18030) rather than Scrapy's guess, and the page is parsed once with lxml.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import lxml.etree
import lxml.html

from crawler.classify import clean_page_title, is_report_title
from crawler.cms import hanweb_records
from crawler.discovery import Link, extract_links
from domain.chinese import decode_bytes, normalize_label

_TITLE_META = ("ArticleTitle", "articletitle", "title", "Title", "og:title")
_DATE_META = ("PubDate", "pubdate", "publishdate", "firstpublishedtime", "article:published_time")
_PLATFORM_PATH = re.compile(r"(?:^|[/_.-])(?:zfxxgk|xxgk|zwgk|gkml|xxgkml|bmxxgk|xzxxgk)(?:[/_.-]|$)", re.I)
_PRINTED_DATE = re.compile(r"(?:发布时间|发布日期|成文日期|时间|日期)[:：\s]*((?:19|20)\d{2})[-/年.](\d{1,2})[-/月.](\d{1,2})")


@dataclass
class Page:
    url: str
    text: str
    codec: str
    titles: list[str] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    published_at: str | None = None
    scripts: str = ""  # the text of the page's inline scripts (pagers, list APIs, javascript: links)
    prose: int = 0  # characters of text outside links and scripts: a report's body, not a listing's

    @property
    def platform(self) -> bool:
        """A disclosure platform or hub page: its department links lead to departments' own reports."""
        names = " ".join([*self.titles[-1:], self.meta.get("ColumnName", "")])
        return "公开" in normalize_label(names) or bool(_PLATFORM_PATH.search(urlsplit(self.url).path))

    def report_title(self, hint: str = "") -> str:
        """The first title candidate (meta, headings, <title>, link text) that names a report."""
        return next((t for t in [*self.titles, hint] if t and is_report_title(t)), "")


def read_page(url: str, body: bytes, declared: str | None, list_selector: str = "") -> Page:
    """Decode and parse ``body``; links include those inside Hanweb datastore records."""
    text, codec = decode_bytes(body, declared)
    page = Page(url, text, codec)
    try:
        doc = lxml.html.fromstring(text.encode("utf-8"), parser=lxml.html.HTMLParser(encoding="utf-8"))
    except (lxml.etree.ParserError, ValueError):
        return page
    page.meta = {m.get("name") or m.get("property"): (m.get("content") or "").strip()
                 for m in doc.iter("meta") if (m.get("name") or m.get("property")) and m.get("content")}
    page.titles = _titles(doc, page.meta)
    page.scripts = "\n".join(s.text for s in doc.iter("script") if s.text)
    page.prose = _prose(doc, page.scripts)
    scope = doc.cssselect(list_selector) if list_selector else [doc]
    for node in scope:
        page.links.extend(extract_links(node, url, page.scripts))
    records = hanweb_records(text)
    if records:
        fragment = lxml.html.fromstring("<div>" + "".join(records) + "</div>")
        page.links.extend(extract_links(fragment, url))
    page.links = _unique(page.links)
    page.published_at = _published(page.meta, text)
    return page


def _prose(doc: lxml.html.HtmlElement, scripts: str) -> int:
    """Characters of text outside links, scripts, styles and the head, not counting white space
    (lxml's C-level text_content; an XPath over every text node doubled the parsing time)."""
    def chars(text: str) -> int:
        return len(text) - sum(text.count(c) for c in " \t\r\n\u3000\xa0")

    body = doc.find("body")
    if body is None:
        return 0
    styles = sum(chars(node.text_content()) for node in body.iter("style"))
    links = sum(chars(a.text_content()) for a in body.iter("a"))
    return chars(body.text_content()) - chars(scripts) - styles - links


def _unique(links: list[Link]) -> list[Link]:
    """One link per URL (the most telling label wins), in page order."""
    best: dict[str, Link] = {}
    for link in links:
        if link.url not in best or len(link.label) > len(best[link.url].label):
            best[link.url] = link
    return list(best.values())


def _titles(doc: lxml.html.HtmlElement, meta: dict[str, str]) -> list[str]:
    found = [meta[k] for k in _TITLE_META if meta.get(k)]
    for tag in ("h1", "h2", "h3"):
        found.extend(" ".join(h.text_content().split()) for h in doc.iter(tag))
    found.extend(" ".join(t.text_content().split()) for t in doc.xpath("//*[contains(@class,'title')]")[:5])
    title = doc.findtext(".//title") or ""
    if title.strip():
        found.append(clean_page_title(" ".join(title.split())))
    return [t for t in found if t]


def _published(meta: dict[str, str], text: str) -> str | None:
    for key in _DATE_META:
        if meta.get(key):
            return meta[key][:30]
    m = _PRINTED_DATE.search(text)
    return f"{m.group(1)}-{int(m.group(2)):02d}-{int(m.group(3)):02d}" if m else None

