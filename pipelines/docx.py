"""DOCX reports: body text in document order and tables with merged cells resolved.

Read straight from the WordprocessingML tree (through python-docx's parsed document) rather
than python-docx's ``table.rows[i].cells``: that API hides where ``gridBefore`` offsets and
``vMerge`` continuations are, which is exactly what a faithful grid needs. Paragraphs and
tables are interleaved as in the document, and every table is also written into ``text``
(one row per line, cells tab-separated) so the text alone is complete.
"""
from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Iterator
from typing import Any

import docx
from docx.oxml.ns import qn
from lxml import etree

from pipelines.grid import SpanCell, expand, grid_to_text
from pipelines.loaded import ExtractionError, LoadedDocument

logger = logging.getLogger(__name__)

_P, _TBL, _TR, _TC, _SDT = qn("w:p"), qn("w:tbl"), qn("w:tr"), qn("w:tc"), qn("w:sdt")
_T, _TAB, _BR, _CR = qn("w:t"), qn("w:tab"), qn("w:br"), qn("w:cr")
_VAL = qn("w:val")


#: Bounds on the unpacked package, checked before python-docx reads every part into memory: a
#: report's document.xml is a few MB, its images tens of MB; a 1 MB file whose document.xml
#: inflates to 1 GB is a decompression bomb.
_MIB = 1024 * 1024
MAX_PART_BYTES = 64 * _MIB
MAX_UNPACKED_BYTES = 256 * _MIB
#: Parts above 1 MiB that deflate better than this are bombs (OOXML reaches ~10-50x).
MAX_RATIO = 100
_RATIO_FLOOR = _MIB


def load_docx(data: bytes, *, content_type: str = "") -> LoadedDocument:
    """Text, tables and core properties of a DOCX file."""
    try:
        check_unpacked_size(data)
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError, etree.XMLSyntaxError) as exc:
        raise ExtractionError(f"DOCX could not be opened (corrupt or truncated?): {exc}") from exc
    doc = LoadedDocument(format="docx", meta=_core_meta(document))
    lines: list[str] = []
    for kind, el in _body_blocks(document.element.body):
        if kind == "p":
            text = paragraph_text(el)
            if text.strip():
                lines.append(text)
            continue
        grid, merges = table_grid(el)
        if grid:
            doc.tables.append(grid)
            doc.table_merges.append(merges)
            lines.append(grid_to_text(grid, merges))
    doc.text = "\n".join(lines)
    doc.title = next((line.strip() for line in lines if line.strip() and "\t" not in line), "")[:200]
    return doc


def check_unpacked_size(data: bytes) -> None:
    """Refuse a ZIP package that would unpack beyond the bounds above (ExtractionError).

    The sizes the archive declares are checked first (free), then every part is inflated in
    chunks and counted, so a header that understates a part is caught without holding it.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = archive.infolist()
        for info in members:
            _check_part(info.filename, info.file_size, info.compress_size)
        if sum(info.file_size for info in members) > MAX_UNPACKED_BYTES:
            raise ExtractionError(_too_big("the parts together declare", sum(i.file_size for i in members), MAX_UNPACKED_BYTES))
        total = 0
        for info in members:
            size = _inflated_size(archive, info)
            _check_part(info.filename, size, info.compress_size)
            total += size
            if total > MAX_UNPACKED_BYTES:
                raise ExtractionError(_too_big("the parts together unpack to", total, MAX_UNPACKED_BYTES))


def _check_part(name: str, size: int, packed: int) -> None:
    if size > _RATIO_FLOOR and size > MAX_RATIO * max(packed, 1):
        raise ExtractionError(f"DOCX is a decompression bomb: part {name} inflates {size // max(packed, 1)}:1 "
                              f"({packed} -> {size} bytes; limit {MAX_RATIO}:1)")
    if size > MAX_PART_BYTES:
        raise ExtractionError(_too_big(f"part {name} unpacks to", size, MAX_PART_BYTES))


def _inflated_size(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> int:
    """Bytes ``info`` really inflates to, read in chunks and stopped just past the part limit."""
    size = 0
    with archive.open(info) as stream:
        while size <= MAX_PART_BYTES and (chunk := stream.read(_MIB)):
            size += len(chunk)
    return size


def _too_big(what: str, size: int, limit: int) -> str:
    return f"DOCX too large unpacked: {what} {size / _MIB:.0f} MiB (limit {limit // _MIB} MiB)"


def _core_meta(document: Any) -> dict[str, str]:
    props = document.core_properties
    values = {"title": props.title, "author": props.author, "created": props.created, "modified": props.modified}
    return {k: str(v) for k, v in values.items() if v}


def _body_blocks(container: etree._Element) -> Iterator[Any]:
    """(kind, element) for top-level paragraphs and tables, looking inside content controls."""
    for child in container:
        if child.tag == _P:
            yield "p", child
        elif child.tag == _TBL:
            yield "tbl", child
        elif child.tag == _SDT:
            content = child.find(qn("w:sdtContent"))
            if content is not None:
                yield from _body_blocks(content)


def paragraph_text(p: etree._Element) -> str:
    """Text of one ``w:p``: runs concatenated, tabs and line breaks kept."""
    parts = []
    for el in p.iter(_T, _TAB, _BR, _CR):
        if el.tag == _T:
            parts.append(el.text or "")
        else:
            parts.append("\t" if el.tag == _TAB else "\n")
    return "".join(parts)


def cell_text(tc: etree._Element) -> str:
    """A cell's paragraphs, one per line, whitespace collapsed (labels are often split by Enter)."""
    lines = (" ".join(paragraph_text(p).split()) for p in tc.iter(_P))
    return "\n".join(line for line in lines if line)


def table_grid(tbl: etree._Element) -> tuple[list[list[str]], list[tuple[int, int, int, int]]]:
    """Expanded grid of a ``w:tbl``: ``gridSpan`` widens a cell, ``vMerge`` continuations extend
    the rowspan of the cell that started the merge in the same grid column."""
    rows: list[list[SpanCell]] = []
    open_merges: dict[int, SpanCell] = {}  # grid column -> origin cell of a running vMerge
    for tr in tbl.iter(_TR):
        if _owner(tr, _TBL) is not tbl:
            continue
        row: list[SpanCell] = []
        col = _int_prop(tr, "w:trPr/w:gridBefore", 0)
        if col:
            row.append(SpanCell("", 1, col))
        for tc in tr.iter(_TC):
            if _owner(tc, _TR) is not tr:
                continue
            span = _int_prop(tc, "w:tcPr/w:gridSpan", 1)
            vmerge = tc.find(qn("w:tcPr") + "/" + qn("w:vMerge"))
            origin = open_merges.get(col)
            if vmerge is not None and vmerge.get(_VAL, "continue") == "continue" and origin is not None:
                origin.rowspan += 1
            else:
                cell = SpanCell(cell_text(tc), 1, span)
                row.append(cell)
                if vmerge is not None:
                    open_merges[col] = cell
                else:
                    open_merges.pop(col, None)
            col += span
        rows.append(row)
    return expand(rows)


def _owner(el: etree._Element, tag: str) -> etree._Element | None:
    return next(el.iterancestors(tag), None)


def _int_prop(el: etree._Element, path: str, default: int) -> int:
    node = el.find("/".join(qn(part) for part in path.split("/")))
    try:
        return max(0, int(node.get(_VAL))) if node is not None else default
    except (TypeError, ValueError):
        return default
