"""The real report documents the simulated portals publish, loaded from ``simulator/portal_simulator/data``.

Three kinds of source text are shipped (see data/SOURCES.md): DOCX reports flattened to text
("seeds", tables as tab-indented cells), crawler text dumps of TRS report pages (pingtan, with
a small header block), and real report PDFs. A seed keeps its real values; its tables are
rebuilt in the template's printed layout (``tables``). Everything is turned into a
:class:`ReportDoc`: a title, metadata and a list of blocks any page style can render.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache
from pathlib import Path

from domain.chinese import normalize_label
from portal_simulator.report_tables import (
    Table,
    active_items,
    active_table,
    appeals_table,
    application_layout,
    applications_table,
)

DATA = Path(__file__).parent / "data"
_HEADING = re.compile(r"^[一二三四五六七]、")
_YEAR = re.compile(r"((?:19|20)\d\d)\s*年")


@dataclass
class ReportDoc:
    """A report's content, independent of how a portal renders it.

    ``blocks`` are ("title" | "h" | "p", text) or ("table", Table) in reading order.
    """

    title: str
    agency: str
    year: int
    published: datetime
    blocks: list[tuple[str, object]] = field(default_factory=list)

    @property
    def template(self) -> str:
        return "legacy" if self.year < 2019 else ("2019" if self.year < 2021 else "2021")

    def revised(self, note: str) -> ReportDoc:
        """A copy with a revision note and one changed figure, as silent corrections look."""
        blocks = [(k, _bump_first_value(b) if k == "table" else b) for k, b in self.blocks]
        first_table = next((i for i, (k, _) in enumerate(blocks) if k == "table"), None)
        if first_table is None:  # text-only report: the correction is in the prose
            blocks = [(k, _bump_first_number(b) if k == "p" else b) for k, b in blocks]
        return replace(self, blocks=blocks + [("p", note)])


def _bump_first_value(table: Table) -> Table:
    out, done = [], False
    for row in table:
        new_row = []
        for cell in row:
            if not done and cell.text.strip().isdigit() and len(new_row) > 0:
                cell = replace(cell, text=str(int(cell.text) + 1))
                done = True
            new_row.append(cell)
        out.append(new_row)
    return out


def _bump_first_number(text: str) -> str:
    m = re.search(r"(\d+)条", text)
    return text if not m else text[: m.start(1)] + str(int(m.group(1)) + 1) + text[m.end(1):]


# --- seeds: DOCX flattened to text -------------------------------------------------------

def _split_regions(lines: list[str]) -> list[tuple[str, list[str]]]:
    """Alternate ("text", [line]) and ("table", lines) regions; tables are tab-indented runs."""
    out: list[tuple[str, list[str]]] = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith("\t"):
            out.append(("text", [lines[i]]))
            i += 1
            continue
        region: list[str] = []
        while i < len(lines):
            line = lines[i]
            if line and not line.startswith("\t") and (not region or region[-1].strip() == ""):
                break
            region.append(line)
            i += 1
        out.append(("table", region))
    return out


def _rows(region: list[str]) -> list[list[str]]:
    """Cells of a flattened table: a blank line ends a row, a tab starts a cell."""
    rows: list[list[str]] = []
    row: list[str] = []
    for line in region:
        if not line.strip() and not line.startswith("\t"):
            if row:
                rows.append(row)
            row = []
        elif line.startswith("\t"):
            row.append(line[1:].strip())
        elif row:
            row[-1] += line.strip()
    if row:
        rows.append(row)
    return rows


def _active_values(rows: list[list[str]], template: str) -> dict[str, list[str]]:
    labels = {normalize_label(label): key for key, (label, _) in active_items(template).items()}
    values: dict[str, list[str]] = {}
    for row in rows:
        head = normalize_label(row[0]) if row else ""
        for label, key in labels.items():
            if head.startswith(label) and key not in values:
                values[key] = row[1:]
    return values


def _application_values(rows: list[list[str]], template: str) -> dict[str, list[str]]:
    by_label = {normalize_label(label): key for key, _, label in application_layout(template)}
    values: dict[str, list[str]] = {}
    for row in rows:
        if len(row) < 8:
            continue
        label = next((c for c in reversed(row[:-7]) if c), "")
        key = by_label.get(normalize_label(label))
        if key:
            values[key] = row[-7:]
    return values


def _appeal_values(rows: list[list[str]]) -> list[str]:
    return next((row for row in rows if len(row) == 15 and all(re.fullmatch(r"-?\d*", c) for c in row)), [])


def _table_blocks(region: list[str], template: str) -> list[tuple[str, object]]:
    rows = _rows(region)
    blocks: list[tuple[str, object]] = []
    if rows and (m := re.match(r"^([一二三四五六]、\S+?情况)", rows[0][0])):
        blocks.append(("h", m.group(1)))
    text = "".join("".join(r) for r in rows)
    if "申请人情况" in text:
        blocks.append(("table", applications_table(template, _application_values(rows, template))))
    elif "行政复议" in text and "行政诉讼" in text:
        blocks.append(("table", appeals_table(_appeal_values(rows))))
    elif "第二十条" in text:
        blocks.append(("table", active_table(template, _active_values(rows, template))))
    return blocks


@cache
def load_seed(name: str, agency: str, published: str) -> ReportDoc:
    """A seed report (``data/seeds/<name>.txt``) with its tables rebuilt in template layout."""
    lines = (DATA / "seeds" / f"{name}.txt").read_text(encoding="utf-8").splitlines()
    title_parts: list[str] = []
    while lines and "报告" not in "".join(title_parts):
        part = lines.pop(0).strip()
        if part:
            title_parts.append(part)
    title = "".join(title_parts)
    year = int(_YEAR.search(title).group(1))
    template = "2019" if year < 2021 else "2021"
    blocks: list[tuple[str, object]] = [("title", title)]
    for kind, region in _split_regions(lines):
        if kind == "table":
            blocks.extend(_table_blocks(region, template))
        elif region[0].strip():
            text = region[0].strip()
            blocks.append(("h" if _is_heading(text) else "p", text))
    return ReportDoc(title, agency, year, datetime.fromisoformat(published), blocks)


def _is_heading(text: str) -> bool:
    plain = re.sub(r"^[一二三四五六七]、", "", text)
    return len(text) <= 30 and (bool(_HEADING.match(text)) or plain in _SECTION_WORDS)


_SECTION_WORDS = {"总体情况", "主动公开政府信息情况", "主动公开信息情况", "依申请公开信息情况", "政府信息管理",
                  "平台建设", "监督保障", "存在的主要问题及改进情况", "存在的主要问题", "其他需要报告的事项"}


# --- pingtan: crawler text dumps of TRS report pages -------------------------------------

@cache
def load_page_text(name: str, agency: str) -> ReportDoc:
    """A report page's text (``data/pingtan/<name>.txt``), split into paragraphs at its headings."""
    raw = (DATA / "pingtan" / f"{name}.txt").read_text(encoding="utf-8")
    header, _, body = raw.partition("==================== 正文 ====================")
    meta = dict(line.split(": ", 1) for line in header.splitlines() if ": " in line)
    body = body.strip()
    if "相关链接： -->" in body:  # page chrome captured by the crawler that made the dump
        body = body.split("相关链接： -->", 1)[1]
    body = body.removesuffix("附件下载").strip()
    parts = [p.strip() for p in re.split(r"(?<![\d（(])(?=[一二三四五六]、)", body) if p.strip()]
    title = meta["标题"].strip()
    blocks: list[tuple[str, object]] = [("title", title)] + [("p", p) for p in parts]
    year = int(_YEAR.search(title).group(1))
    return ReportDoc(title, agency, year, datetime.fromisoformat(meta["发布时间"].strip()), blocks)


def pdf_bytes(name: str) -> bytes:
    return (DATA / "pdf" / name).read_bytes()


def office_bytes(name: str) -> bytes:
    return (DATA / "office" / name).read_bytes()
