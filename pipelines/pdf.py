"""PDF reports: pypdfium2 for text, pdfplumber for table grids, OCR for pages without usable text.

Engine choice, measured on the corpus PDFs (see ``bench/results/extraction_speed.txt``):

* Text: pypdfium2 takes 0.014-0.022 CPU s for a 5-6 page report, pdfplumber 0.45-0.49 s (>20x).
  Prose lines are identical; the 10-17 % of pdfplumber's lines that differ are table rows,
  which pdfplumber assembles by geometry and pdfium in content-stream order. So pypdfium2
  produces ``text``; page-number footers (``- 2 -``) are dropped so a label split over a page
  break stays together.
* Tables: pypdfium2 has no table model; in its text, empty cells vanish and cell boundaries are
  spaces. pdfplumber's table finder recovers the ruled grid (0.1-0.2 CPU s per page), so it runs
  only on pages with enough vector paths to hold a ruled table (counted with pdfium in
  microseconds): 0.30 vs 0.51 s on the 6-page report whose tables sit on 3 pages, 0.45 vs
  0.52 s where 4 of 5 pages qualify; on long prose-heavy PDFs the saving grows. Cell positions come from
  pdfplumber's cell boxes, so merged cells expand into the shared grid convention
  (:mod:`pipelines.grid`); one-column "tables" (WPS draws boxes around text lines) are
  dropped, and a table continued on the next page with the same columns is joined into one
  grid, a vertically merged label cut by the page break carried over.
* Garbage: broken CJK font maps come out as ``(cid:1234)`` runs, private-use characters or
  U+FFFD; pages where such characters exceed :data:`GARBAGE_RATIO` of the text, pages that draw
  glyphs but yield no characters, and pages with images but (almost) no text layer are
  rendered at 300 dpi and OCR'd (:mod:`pipelines.ocr`); the document is then marked ``ocr``
  with the mean confidence, and their ruled tables are read cell by cell from the image
  (:mod:`pipelines.scan_tables`). A
  pdfplumber table whose cells read ``(cid:N)`` is dropped for the same reason.
  Not detected: fonts whose map yields valid but wrong CJK characters.
"""
from __future__ import annotations

import io
import logging
import re
from typing import Any

import pdfplumber
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from pipelines.grid import expand, join_split, place
from pipelines.loaded import ExtractionError, LoadedDocument

logger = logging.getLogger(__name__)

MAX_PAGES = 400
#: Bounds on the slow steps (pdfplumber ~0.2 s/page, OCR ~3 s/page): statistics tables sit in
#: the first pages of a report, and a 300-page scan is not a report.
MAX_TABLE_PAGES = 60
MAX_OCR_PAGES = 40
GARBAGE_RATIO = 0.10
#: Pages with fewer vector paths than this cannot hold a ruled statistics table.
MIN_TABLE_PATHS = 12
#: Pages with fewer non-space characters than this (and an image) are treated as scans.
MIN_TEXT_CHARS = 20
_CID = re.compile(r"\(cid:\d+\)")
_PAGE_NUMBER = re.compile(r"^\s*(?:[-—–－]\s*\d+\s*[-—–－]|第\s*\d+\s*页(?:\s*[,，/]?\s*共\s*\d+\s*页)?|\d+\s*/\s*\d+)\s*$")
_TOL = 1.5  # points; cell edges closer than this are the same grid line


def load_pdf(data: bytes, *, content_type: str = "") -> LoadedDocument:
    """Text (OCR where needed), table grids and document info of a PDF."""
    pdf = _open(data)
    try:
        doc = LoadedDocument(format="pdf", meta=_info(pdf))
        if len(pdf) > MAX_PAGES:
            doc.warnings.append(f"only the first {MAX_PAGES} of {len(pdf)} pages were read")
        texts, table_pages, ocr_results = _read_pages(pdf, doc.warnings)
    finally:
        pdf.close()
    doc.text = "\n".join(t for t in texts if t)
    if ocr_results:
        from pipelines.ocr import add_tables, mean_confidence

        doc.ocr, doc.ocr_confidence = True, mean_confidence(ocr_results)
        add_tables(doc, ocr_results)
    for grid, merges in find_tables(data, table_pages) if table_pages else ():
        if any(_CID.search(cell) for row in grid for cell in row):
            doc.warnings.append("a table whose cells pdfplumber reads as (cid:N) glyphs was dropped; its text is kept")
            continue
        doc.tables.append(grid)
        doc.table_merges.append(merges)
    doc.title = _title(doc)
    if not doc.text.strip():
        doc.warnings.append("no text found in the PDF (blank pages?)")
    return doc


def _read_pages(pdf: pdfium.PdfDocument, warnings: list[str]) -> tuple[list[str], list[int], list]:
    """Each page's text (OCR'd if its text layer is unusable), the pages worth a table search,
    and the OCR results."""
    texts, table_pages, ocr_results = [], [], []
    for index in range(min(len(pdf), MAX_PAGES)):
        page = pdf[index]
        text, paths, images, glyph_runs = page_layer(page)
        problem = page_problem(text, images, glyph_runs)
        if problem and len(ocr_results) >= MAX_OCR_PAGES:
            warnings.append(f"page {index + 1}: {problem}; not OCR'd (limit of {MAX_OCR_PAGES} pages)")
            text = ""
        elif problem:
            warnings.append(f"page {index + 1}: {problem}; OCR used")
            ocr_results.append(_ocr_page(page))
            text = ocr_results[-1].text
        elif paths >= MIN_TABLE_PATHS and len(table_pages) < MAX_TABLE_PAGES:
            table_pages.append(index)
        texts.append(clean_page_text(text))
        page.close()
    return texts, table_pages, ocr_results


def _open(data: bytes) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        message = str(exc)
        if "password" in message.lower():
            raise ExtractionError("PDF is encrypted with a password") from exc
        raise ExtractionError(f"PDF could not be opened (corrupt or truncated?): {message}") from exc


def _info(pdf: pdfium.PdfDocument) -> dict[str, str]:
    try:
        info = pdf.get_metadata_dict(skip_empty=True)
    except pdfium.PdfiumError:
        return {}
    return {k: v.strip() for k, v in info.items() if v and v.strip()}


def page_layer(page: pdfium.PdfPage) -> tuple[str, int, int, int]:
    """The page's text layer, and how many path, image and text objects it draws."""
    textpage = page.get_textpage()
    text = textpage.get_text_range().replace("\r\n", "\n").replace("\r", "\n")
    textpage.close()
    paths = images = glyph_runs = 0
    for obj in page.get_objects():
        paths += obj.type == pdfium_c.FPDF_PAGEOBJ_PATH
        images += obj.type == pdfium_c.FPDF_PAGEOBJ_IMAGE
        glyph_runs += obj.type == pdfium_c.FPDF_PAGEOBJ_TEXT
    return text, paths, images, glyph_runs


def page_problem(text: str, images: int, glyph_runs: int = 0) -> str:
    """Why a page's text layer is unusable ('' if it is fine, or the page is blank).

    ``glyph_runs`` (text objects drawn) tells a font without any Unicode map (glyphs drawn,
    nothing extractable) from a blank page.
    """
    chars = [ch for ch in _CID.sub("\ufffd", text) if not ch.isspace()]
    if len(chars) < MIN_TEXT_CHARS:
        if glyph_runs >= MIN_TEXT_CHARS:
            return f"text layer has no readable characters ({glyph_runs} text objects drawn)"
        return "no text layer (scanned image)" if images else ""
    bad = sum(1 for ch in chars if _is_garbage_char(ch))
    if bad / len(chars) > GARBAGE_RATIO:
        return f"text layer is garbage ({bad} of {len(chars)} characters are (cid:N), private-use or replacement characters)"
    return ""


def _is_garbage_char(ch: str) -> bool:
    code = ord(ch)
    return ch == "\ufffd" or 0xE000 <= code <= 0xF8FF or code >= 0xF0000 or (code < 32 and ch not in "\t\n")


def clean_page_text(text: str) -> str:
    """Page text without page-number lines and trailing blanks."""
    lines = [line.rstrip() for line in text.split("\n")]
    return "\n".join(line for line in lines if line.strip() and not _PAGE_NUMBER.match(line))


def _ocr_page(page: pdfium.PdfPage) -> Any:
    from pipelines.ocr import OCR_DPI, ocr_image

    image = page.render(scale=OCR_DPI / 72, grayscale=True).to_pil()
    return ocr_image(image)


def _title(doc: LoadedDocument) -> str:
    """First line of the report, joined with the next when the title is broken over two lines
    (agency on one line, "2023年政府信息公开工作年度报告" on the next)."""
    lines = [line.strip() for line in doc.text.split("\n") if line.strip()][:3]
    if not lines:
        return doc.meta.get("Title", "")
    if "报告" not in lines[0] and len(lines) > 1 and "报告" in lines[1] and len(lines[0]) <= 40:
        return lines[0] + lines[1]
    return lines[0][:200]


def find_tables(data: bytes, pages: list[int]) -> list[tuple[list[list[str]], list[tuple[int, int, int, int]]]]:
    """Ruled tables of the given pages as expanded grids; split tables joined across pages."""
    out: list[tuple[list[list[str]], list[tuple[int, int, int, int]]]] = []
    previous = None  # (page index, was last on its page, column starts, left/right edges)
    try:
        with pdfplumber.open(io.BytesIO(data)) as pdf:
            for index in pages:
                page = pdf.pages[index]
                tables = [t for t in page.find_tables() if len(t.columns) >= 2]
                for pos, table in enumerate(tables):
                    col_x = [col.bbox[0] for col in table.columns]
                    sides = (table.bbox[0], table.bbox[2])
                    if pos == 0 and _continues(previous, index, col_x, sides):
                        col_x = previous[2]  # place the continuation on the columns of the part above
                        out[-1] = join_split(out[-1], table_grid(table, col_x))
                    else:
                        out.append(table_grid(table, col_x))
                    previous = (index, pos == len(tables) - 1, col_x, sides)
                page.close()
    except MemoryError:
        raise  # over the memory budget: not a malformed stream (pipelines.bounded reports it)
    except Exception as exc:  # noqa: BLE001 - pdfminer raises many types on malformed content streams
        logger.warning("pdfplumber table finding failed: %s", exc)
        return []
    return [(grid, merges) for grid, merges in out if grid and len(grid[0]) >= 2]


def _continues(previous: Any, index: int, col_x: list[float], sides: tuple[float, float]) -> bool:
    """Whether a page's first table continues the previous page's last one: same outer edges,
    and every column start it has is a column start of the part above (a continuation may have
    fewer columns, e.g. a last row whose label spans three)."""
    if previous is None or not previous[1] or index != previous[0] + 1:
        return False
    above, (left, right) = previous[2], previous[3]
    if abs(sides[0] - left) > 3 or abs(sides[1] - right) > 3:
        return False
    return all(any(abs(x - a) <= 3 for a in above) for x in col_x)


def table_grid(table: Any, col_x: list[float]) -> tuple[list[list[str]], list[tuple[int, int, int, int]]]:
    """A pdfplumber table as grid + merges on the given column starts: a cell sits in the column
    its left edge starts, and spans every column start (row top) its box covers."""
    row_y = [row.bbox[1] for row in table.rows]
    texts = table.extract()
    cells = []
    for r, row in enumerate(table.rows):
        for c, box in enumerate(row.cells):
            if box is None:
                continue
            x0, top, x1, bottom = box
            col = min(range(len(col_x)), key=lambda i: abs(col_x[i] - x0))
            colspan = sum(1 for x in col_x if x0 - _TOL <= x < x1 - _TOL)
            rowspan = sum(1 for y in row_y if top - _TOL <= y < bottom - _TOL)
            cells.append((r, col, max(1, rowspan), max(1, colspan), cell_text(texts[r][c] or "")))
    return expand(place(cells))


def cell_text(text: str) -> str:
    """Cell text with lines kept; vertical text (one character per line) joined back."""
    lines = [" ".join(line.split()) for line in text.split("\n")]
    lines = [line for line in lines if line]
    if len(lines) >= 3 and all(len(line) <= 2 for line in lines):
        return "".join(lines)
    return "\n".join(lines)
