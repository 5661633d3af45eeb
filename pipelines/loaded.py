"""What every format loader returns (:class:`LoadedDocument`) or raises (:class:`ExtractionError`).

Kept apart from :mod:`pipelines.document`, which picks the loader, so the loaders and the
dispatcher do not import each other.
"""
from __future__ import annotations

from dataclasses import dataclass, field


class ExtractionError(Exception):
    """The input cannot be read as a document; ``reason`` says why in plain words."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class LoadedDocument:
    """Text, tables and metadata of one document, whatever format it arrived in.

    ``format``: 'html' | 'pdf' | 'docx' | 'doc' | 'wps' | 'txt' | 'image' (the format the bytes
    really are, not what the server claimed).

    ``text``: the full text in reading order, tables included so the text alone is complete:
    DOCX/DOC/WPS write each table row as one line with tab-separated cells (covered merged
    positions blank); HTML text is trafilatura's (``include_tables``: rows as ``| a | b |``);
    PDF text is pdfium's (a table row is one line, cells separated by spaces, empty cells
    absent); OCR text has one line per recognised line; plain text is kept as is.

    ``tables``: rectangular grids ``list[list[str]]`` (every row has the same length).
    **Merged cells convention**: a cell spanning several rows/columns (HTML rowspan/colspan,
    DOCX gridSpan/vMerge) has its text REPEATED into every grid position it covers. This makes
    label matching by row/column simple (a row label spanning three rows is present on each of
    them). Consumers that sum cells must not count a repeated value twice: ``table_merges[i]``
    lists, for table ``i``, every merged region as ``(row, col, rowspan, colspan)`` of its
    top-left origin; positions inside a region other than the origin are copies.
    Spans are capped (see ``pipelines.grid.MAX_SPAN``) so a bogus ``rowspan="9999"`` cannot
    blow up the grid.

    ``meta``: HTML ``<meta name=... content=...>`` values keyed by name as written (e.g.
    ``PubDate``, ``ArticleTitle``; first occurrence wins); PDF document info (``Title``,
    ``Author``, ``Creator``, ``CreationDate`` ...); DOCX core properties (``title``, ``author``,
    ``created``, ``modified``).

    ``ocr`` is true when any part of the text came from OCR; ``ocr_confidence`` is tesseract's
    mean word confidence (0-100) over the OCR'd parts, else None. ``warnings`` are non-fatal
    problems (garbage text layer, decoding fallback, conversion notes).
    """

    format: str
    text: str = ""
    tables: list[list[list[str]]] = field(default_factory=list)
    title: str = ""
    meta: dict[str, str] = field(default_factory=dict)
    ocr: bool = False
    ocr_confidence: float | None = None
    warnings: list[str] = field(default_factory=list)
    table_merges: list[list[tuple[int, int, int, int]]] = field(default_factory=list)
