"""HTML report pages: trafilatura for the main text, the original DOM for tables and metadata.

trafilatura finds the article among navigation and footers, but its table output flattens
merged cells and splits multi-paragraph cells out of the table, so tables come from the DOM as
parsed by lxml: Word-exported markup (``MsoNormal`` paragraphs, ``MsoTableGrid`` tables, spans
nested in spans, ``&nbsp;`` padding) is reduced to plain cell text, and rowspan/colspan are
expanded with :func:`pipelines.grid.expand`. ``include_tables=True`` matters: without it
trafilatura drops table cells and the short numeric lines the statistics live in.
"""
from __future__ import annotations

import logging
import re

import lxml.html
import trafilatura
from lxml import etree

from domain.chinese import decode_bytes
from domain.sniff import charset_of
from pipelines.grid import SpanCell, expand
from pipelines.loaded import ExtractionError, LoadedDocument

logger = logging.getLogger(__name__)

_BLOCK_TAGS = frozenset(
    "p div br li ul ol h1 h2 h3 h4 h5 h6 tr table section article header footer blockquote pre dt dd".split()
)
_SKIP_TAGS = frozenset(("script", "style", "noscript", "template", "head"))
_DIGITS = re.compile(r"\d+")
#: Report pages are well under 2 MB; parsing far bigger HTML twice (lxml, trafilatura) is
#: where a broken or hostile page would cost minutes.
MAX_HTML_BYTES = 20 * 1024 * 1024
#: A report page has a few hundred table cells (a few thousand with a layout-table portal
#: around it); lxml, trafilatura and the grid cost ~2 KB and ~40 us per cell, so a 20 MB page of
#: nothing but cells would take minutes and gigabytes. Counted in the raw bytes, before parsing.
MAX_HTML_CELLS = 50_000
_CELL_TAGS = (b"<td", b"<TD", b"<th", b"<TH")


def load_html(data: bytes, *, content_type: str = "") -> LoadedDocument:
    """Text, tables, title and ``<meta>`` values of an HTML page (or fragment)."""
    if len(data) > MAX_HTML_BYTES:
        raise ExtractionError(f"HTML page too large ({len(data) / 1e6:.1f} MB > {MAX_HTML_BYTES / 1e6:.0f} MB)")
    cells = count_cells(data)
    if cells > MAX_HTML_CELLS:
        raise ExtractionError(f"HTML page has {cells} table cells (limit {MAX_HTML_CELLS}): not a report page")
    text, codec = decode_bytes(data, charset_of(content_type))
    root = parse_dom(text)
    doc = LoadedDocument(format="html", meta=meta_of(root))
    if codec.endswith("/replace"):
        doc.warnings.append("page is neither valid UTF-8 nor its declared charset; undecodable bytes replaced")
    for table in root.iter("table"):
        grid, merges = table_grid(table)
        if len(grid) < 2 or len(grid[0]) < 2:
            continue  # layout wrappers and one-cell boxes, not data
        if grid in doc.tables:
            doc.warnings.append(f"identical copy of table {doc.tables.index(grid) + 1} ignored")
            continue  # CMS pages often carry a hidden print copy of the article
        doc.tables.append(grid)
        doc.table_merges.append(merges)
    doc.text = main_text(text, root)
    doc.title = title_of(root, doc.meta)
    return doc


def count_cells(data: bytes) -> int:
    """About how many ``<td>``/``<th>`` tags the raw page has: four byte counts take ~130 ms
    for 20 MB where a regex takes 700 ms (``<thead>`` counts too, noise at this limit)."""
    return sum(data.count(tag) for tag in _CELL_TAGS)


def parse_dom(text: str) -> etree._Element:
    """The page's DOM; fragments get a synthetic <html><body> so every page looks the same."""
    parser = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True)
    try:
        root = lxml.html.document_fromstring(text.encode("utf-8", "replace"), parser=parser)
    except (etree.ParserError, ValueError) as exc:
        raise ExtractionError(f"HTML could not be parsed: {exc}") from exc
    if root is None:
        raise ExtractionError("HTML page has no elements")
    return root


def meta_of(root: etree._Element) -> dict[str, str]:
    """``<meta name|property=... content=...>`` values; the first occurrence of a name wins
    (Word fragments pasted into the body repeat ``Generator`` etc. after the real head)."""
    meta: dict[str, str] = {}
    for el in root.iter("meta"):
        name = (el.get("name") or el.get("property") or "").strip()
        content = el.get("content")
        if name and content is not None and name not in meta:
            meta[name] = " ".join(content.split())
    return meta


def title_of(root: etree._Element, meta: dict[str, str]) -> str:
    """``ArticleTitle`` (TRS/Hanweb CMS, without the site-name suffix), else ``<title>``, else ``<h1>``."""
    if meta.get("ArticleTitle"):
        return meta["ArticleTitle"]
    for tag in ("title", "h1"):
        for el in root.iter(tag):
            value = " ".join(el.text_content().split())
            if value:
                return value
    return ""


def main_text(text: str, root: etree._Element) -> str:
    """trafilatura's main text (tables included); the whole body's text when it finds none."""
    try:
        extracted = trafilatura.extract(text, include_tables=True, include_comments=False)
    except MemoryError:
        raise  # over the memory budget (pipelines.bounded reports it), not odd markup
    except Exception as exc:  # noqa: BLE001 - trafilatura raises assorted errors on odd markup; the DOM fallback covers it
        logger.warning("trafilatura failed, using DOM text: %s", exc)
        extracted = None
    body = root.find("body")
    raw = extracted if extracted else block_text(body if body is not None else root)
    return tidy_lines(raw)


def tidy_lines(text: str) -> str:
    """Strip lines, drop empty ones and immediate repeats (menus render each title twice)."""
    out: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if line and (not out or out[-1] != line):
            out.append(line)
    return "\n".join(out)


def table_grid(table: etree._Element) -> tuple[list[list[str]], list[tuple[int, int, int, int]]]:
    """The table's own rows (not those of nested tables) as an expanded grid plus merged regions."""
    rows = []
    for tr in table.iter("tr"):
        if _owner_table(tr) is not table:
            continue
        cells = [
            SpanCell(block_text(td, skip_tables=True), _span(td.get("rowspan")), _span(td.get("colspan")))
            for td in tr
            if td.tag in ("td", "th")
        ]
        rows.append(cells)
    return expand(rows)


def _owner_table(el: etree._Element) -> etree._Element | None:
    return next(el.iterancestors("table"), None)


def _span(value: str | None) -> int:
    """A span attribute as int; junk like ``"2;"`` reads as 2, missing or unreadable as 1."""
    m = _DIGITS.search(value or "")
    return int(m.group()) if m else 1


def block_text(el: etree._Element, *, skip_tables: bool = False) -> str:
    """Visible text of ``el``: block elements start new lines, inline runs join without spaces
    (Word splits one number over several ``<span>``), whitespace incl. ``&nbsp;`` collapsed."""
    parts: list[str] = []
    _walk(el, parts, skip_tables)
    lines = (" ".join(line.split()) for line in "".join(parts).split("\n"))
    return "\n".join(line for line in lines if line)


def _walk(el: etree._Element, parts: list[str], skip_tables: bool) -> None:
    tag = el.tag if isinstance(el.tag, str) else ""
    if not tag or tag in _SKIP_TAGS or (skip_tables and tag == "table"):
        return
    block = tag in _BLOCK_TAGS or tag in ("td", "th")
    if block:
        parts.append("\n")
    if el.text:
        parts.append(el.text)
    for child in el:
        _walk(child, parts, skip_tables)
        if child.tail:
            parts.append(child.tail)
    if block:
        parts.append("\n")
