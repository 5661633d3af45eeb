"""Markdown as converters hand it over (docling, MinerU, marker, pandoc): text and table grids.

What a converter does to a report, and what is undone here:

* tables become pipe tables (``| a | b |`` with a ``|---|`` delimiter row) or HTML ``<table>``
  blocks; both become grids, HTML ones through :func:`pipelines.html.table_grid` (spans kept);
* a page break cuts a table into pieces separated by a page number, a comment or nothing: a
  piece with the same width that follows with no prose in between continues the table above,
  and a repeated header row is dropped;
* a narrow column's header wraps onto a second row (``商业`` over ``企业``): header rows
  (above the first row with numbers) are joined cell by cell, which is what the label matchers
  read anyway;
* headings (``#``), emphasis (``**``), list and quote markers are removed from the text, so
  the title is the report's and section headings are found as in any other text.

Rows whose label was lost are left to :mod:`pipelines.stat_tables` (placed by the form's row
order, or left out with a reason).
"""
from __future__ import annotations

import re

from domain import sniff
from domain.chinese import decode_bytes
from pipelines.grid import grid_to_text
from pipelines.html import parse_dom, table_grid
from pipelines.loaded import LoadedDocument
from pipelines.metadata import strip_markup
from pipelines.values import looks_numeric

_PIPE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_DELIMITER = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$")
_HTML_TABLE = re.compile(r"<table\b.*?</table>", re.IGNORECASE | re.DOTALL)
_BETWEEN_PIECES = re.compile(r"^\s*(?:<!--.*?-->|[-—–]*\s*\d{1,3}\s*[-—–]*|第\s*\d+\s*页.*|\d+\s*/\s*\d+|-{3,}|\*{3,})?\s*$")
_ESCAPED_PIPE = "\x00"


def load_markdown(data: bytes, *, content_type: str = "") -> LoadedDocument:
    """Text (markup removed, tables as tab-separated rows) and grids of a Markdown report."""
    text, codec = decode_bytes(data, sniff.charset_of(content_type))
    doc = LoadedDocument(format="markdown")
    if codec.endswith("/replace"):
        doc.warnings.append("text is not valid UTF-8 or GB18030; undecodable bytes replaced")
    lines: list[str] = []
    for block in _blocks(text.replace("\r\n", "\n").replace("\r", "\n")):
        if isinstance(block, str):
            lines.append(strip_markup(block))
            continue
        grid = _join_header_rows(block)
        if doc.tables and _continues(lines, doc.tables[-1], grid):
            doc.tables[-1].extend(row for row in grid if row not in doc.tables[-1][:3])
            continue
        doc.tables.append(grid)
        lines.append("\x01")  # where the table's text goes once its pieces are joined
    doc.table_merges = [[] for _ in doc.tables]
    tables = iter(doc.tables)
    doc.text = "\n".join(grid_to_text(next(tables)) if line == "\x01" else line for line in lines)
    doc.title = next((line for line in doc.text.splitlines() if line.strip()), "")[:200]
    return doc


def _blocks(text: str) -> list[str | list[list[str]]]:
    """Lines of prose and grids, in order (an HTML table stands alone between prose lines)."""
    html_grids: list[list[list[str]]] = []

    def stash(match: re.Match[str]) -> str:
        html_grids.append(table_grid(parse_dom(match.group()).find(".//table"))[0])
        return "\n\x02\n"

    out: list[str | list[list[str]]] = []
    rows: list[list[str]] = []
    for line in _HTML_TABLE.sub(stash, text).splitlines():
        if _PIPE_ROW.match(line):
            if not _DELIMITER.match(line):
                rows.append(_pipe_cells(line))
            continue
        if rows:
            out.append(_rectangular(rows))
            rows = []
        out.append(html_grids.pop(0) if line == "\x02" else line)
    if rows:
        out.append(_rectangular(rows))
    return out


def _pipe_cells(line: str) -> list[str]:
    inner = line.strip().replace("\\|", _ESCAPED_PIPE)[1:-1]
    return [strip_markup(cell.replace(_ESCAPED_PIPE, "|")).strip() for cell in inner.split("|")]


def _rectangular(rows: list[list[str]]) -> list[list[str]]:
    width = max(len(r) for r in rows)
    return [r + [""] * (width - len(r)) for r in rows]


def _continues(lines: list[str], previous: list[list[str]], grid: list[list[str]]) -> bool:
    """A piece continues the table above when only page furniture lies between them."""
    if not previous or len(previous[0]) != len(grid[0]):
        return False
    tail = lines[len(lines) - lines[::-1].index("\x01"):] if "\x01" in lines else ["prose"]
    return all(_BETWEEN_PIECES.match(line) for line in tail)


def _join_header_rows(grid: list[list[str]]) -> list[list[str]]:
    """Header rows wrapped by a narrow column (``商业`` / ``企业``) joined into one.

    Two consecutive rows above the first row with numbers are joined when the lower one only
    continues cells of the upper one (every non-empty cell below has a non-empty cell above)."""
    first_data = next((i for i, row in enumerate(grid) if any(looks_numeric(c) and c for c in row)), len(grid))
    out = [list(row) for row in grid]
    i = 1
    while i < min(first_data, len(out)):
        upper, lower = out[i - 1], out[i]
        if any(lower) and all(not b or a for a, b in zip(upper, lower, strict=True)) and _fragments(upper, lower):
            out[i - 1] = [a + b for a, b in zip(upper, lower, strict=True)]
            del out[i]
            first_data -= 1
            continue
        i += 1
    return out


def _fragments(upper: list[str], lower: list[str]) -> bool:
    """The lower row's cells are word pieces (short, no numbering), not labels of their own."""
    pieces = [b for b in lower if b]
    return all(len(b) <= 4 and not re.match(r"^[（(]?[一二三四五六七八九十\d]", b) for b in pieces) and \
        sum(1 for a, b in zip(upper, lower, strict=True) if a and b) >= 2
