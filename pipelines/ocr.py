"""OCR with tesseract for scanned reports: image-only PDF pages and plain images.

tesseract runs as a subprocess (the Debian ``tesseract-ocr`` + ``tesseract-ocr-chi-sim``
packages); ``OMP_THREAD_LIMIT=1`` keeps it from oversubscribing the CPU when workers run in
parallel. A page is read in two parts (:func:`ocr_image`):

* its ruled tables, where the statistics are, cell by cell from the ruling lines
  (:mod:`pipelines.scan_tables`): they come out as grids like a born-digital table's, and
  each cell's text carries its confidence;
* the rest of the page with the tables blanked out, in one full-page run asked for hOCR with
  character boxes (words, confidences, where every character sits). Rules left outside the
  tables are erased first (read as ``1``, ``|`` and ``l``; :func:`find_rules`, pure Pillow), and
  a line crossed by vertical rules is still cut into tab-separated cells at them (a table the
  cell reader did not find keeps the shape of its rows); page segmentation mode 6 keeps a
  line whole.

The page text has the prose lines and each table's rows (tab-separated, merged positions
blank) in page order. Chinese words come out space-separated, so spaces between two CJK
characters are dropped ("本 年 新 收" -> "本年新收") while spaces around Latin letters and
digits are kept. Measured cell accuracy and speed: ``bench/results/ocr_engines.txt``.
"""
from __future__ import annotations

import bisect
import io
import logging
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import lxml.html
from PIL import Image, ImageChops, ImageFilter, ImageSequence

from pipelines.grid import grid_to_text
from pipelines.loaded import ExtractionError, LoadedDocument
from pipelines.scan_tables import OCR_TIMEOUT_S, CellReader, ScanTable, join_pages, read_tables, run_tesseract

logger = logging.getLogger(__name__)

LANG = "chi_sim"
#: Rendering resolution for PDF pages: on the corpus scan 300 dpi kept table rows whole where
#: 200 dpi split them into columns.
OCR_DPI = 300
MAX_PIXELS = 60_000_000  # a 300 dpi A3 page is ~17 Mpx; far more is a decompression bomb
_CJK_GAP = re.compile(r"(?<=[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]) (?=[\u3000-\u303f\u3400-\u9fff\uff00-\uffef])")
#: A table cell read as a lone bar or bracket is the digit 1 (the commonest confusion on scans).
_ONE_GLYPH = re.compile(r"^[|Il\]\[]$")
_HOCR_PARSER = lxml.html.HTMLParser(encoding="utf-8")
_BBOX = re.compile(r"(?:bbox|x_bboxes) (\d+) (\d+) (\d+) (\d+)")
_WCONF = re.compile(r"x_wconf (\d+(?:\.\d+)?)")

Rule = tuple[int, int, int]  # x, top, bottom of a vertical table rule, in pixels


@dataclass
class OcrResult:
    """Text of one image, tesseract's mean word confidence (0-100; None if no word found) and
    the page's ruled tables read cell by cell (:mod:`pipelines.scan_tables`)."""

    text: str
    confidence: float | None
    words: int
    tables: list[ScanTable] = field(default_factory=list)


def ocr_image(image: Image.Image, *, lang: str = LANG, timeout: float = OCR_TIMEOUT_S,
              read_cells: CellReader | None = None) -> OcrResult:
    """OCR one scanned page: its ruled tables cell by cell, then the rest of the page (tables
    blanked out); the text has the prose lines and each table's rows (tab-separated) in page order."""
    tables, prose = read_tables(image, read_cells=read_cells)
    lines, confs = ocr_lines(prose, lang=lang, timeout=timeout)
    for table in tables:
        lines.append((table.box[1], grid_to_text(table.grid, table.merges)))
        confs += [cell.confidence for row in table.grid for cell in row if getattr(cell, "confidence", None) is not None]
    text = "\n".join(line for _, line in sorted(lines, key=lambda item: item[0]))
    confidence = round(sum(confs) / len(confs), 1) if confs else None
    return OcrResult(text, confidence, len(confs), tables)


def ocr_lines(image: Image.Image, *, lang: str = LANG, timeout: float = OCR_TIMEOUT_S) -> tuple[list[tuple[int, str]], list[float]]:  # noqa: E501
    """Full-page OCR: (top, text) of each line and the word confidences."""
    cleaned, rules = find_rules(image)
    with tempfile.TemporaryDirectory(prefix="ogi-ocr-") as tmp:
        src = Path(tmp) / "page.png"
        cleaned.save(src)
        out = run_tesseract([str(src), "stdout", "-l", lang, "--psm", "6", "-c", "hocr_char_boxes=1", "hocr"], timeout, "OCR")
    return hocr_lines(out, rules)


def find_rules(image: Image.Image) -> tuple[Image.Image, list[Rule]]:
    """Grayscale copy of ``image`` with table rules (ink runs longer than 1/25 of the width)
    erased, and the vertical rules found: they tell which cell each recognised character is in."""
    gray = image.convert("L")
    length = max(40, gray.width // 25)
    ink = gray.point(lambda v: 255 if v < 150 else 0)
    vertical = _long_runs(ink, length, horizontal=False)
    rules = ImageChops.lighter(_long_runs(ink, length, horizontal=True), vertical)
    return ImageChops.lighter(gray, rules.filter(ImageFilter.MaxFilter(3))), vertical_rules(vertical)


def _long_runs(ink: Image.Image, length: int, *, horizontal: bool) -> Image.Image:
    """Mask of the pixels in ink runs of at least ``length`` along one axis.

    Erosion by a 1 x length line (min over shifted copies, doubling the shift) marks where a
    full run starts; dilation by the same line (max over shifted copies) paints the run back.
    """
    def shifted(img: Image.Image, by: int) -> Image.Image:
        return ImageChops.offset(img, by, 0) if horizontal else ImageChops.offset(img, 0, by)

    mask = ink
    for step in _steps(length):
        mask = ImageChops.darker(mask, shifted(mask, -step))
    for step in _steps(length):
        mask = ImageChops.lighter(mask, shifted(mask, step))
    return mask


def _steps(length: int) -> list[int]:
    """Shifts whose doubling windows cover exactly ``length`` pixels (1, 2, 4, ..., remainder)."""
    steps, covered, step = [], 1, 1
    while covered < length:
        steps.append(min(step, length - covered))
        covered += steps[-1]
        step *= 2
    return steps


def vertical_rules(mask: Image.Image) -> list[Rule]:
    """Vertical rule segments of a rule mask, via column and row profiles (Pillow BOX resizes)."""
    rules = []
    columns = list(mask.resize((mask.width, 1), Image.BOX).tobytes())
    for x0, x1 in _runs(columns, gap=2):
        strip = mask.crop((x0, 0, x1 + 1, mask.height))
        rows = list(strip.resize((1, mask.height), Image.BOX).tobytes())
        rules.extend(((x0 + x1) // 2, top, bottom) for top, bottom in _runs(rows, gap=3))
    return rules


def _runs(profile: list[int], *, gap: int) -> list[tuple[int, int]]:
    """(first, last) index of the runs of non-zero values, bridging gaps up to ``gap``."""
    runs: list[list[int]] = []
    for i, value in enumerate(profile):
        if not value:
            continue
        if runs and i - runs[-1][1] <= gap + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return [(a, b) for a, b in runs]




def parse_hocr(hocr: bytes | str, rules: list[Rule] = ()) -> OcrResult:
    """Text lines and mean word confidence from tesseract's hOCR (see :func:`hocr_lines`)."""
    lines, confs = hocr_lines(hocr, rules)
    confidence = round(sum(confs) / len(confs), 1) if confs else None
    return OcrResult("\n".join(text for _, text in lines), confidence, len(confs))


def hocr_lines(hocr: bytes | str, rules: list[Rule] = ()) -> tuple[list[tuple[int, str]], list[float]]:
    """(top, text) of each line and the word confidences of tesseract's hOCR (with ``hocr_char_boxes``).

    A line crossed by vertical rules is cut into cells at the rules, each character going to
    the cell its centre lies in (tesseract's words run across cells: "0000" for four zero
    cells); cells are joined by tabs, empty ones kept between the first and last filled cell.
    """
    if isinstance(hocr, str):
        hocr = hocr.encode("utf-8")
    root = lxml.html.fromstring(hocr, parser=_HOCR_PARSER) if hocr.strip() else None
    lines, confs = [], []
    for line in root.xpath("//span[span[@class='ocrx_word']]") if root is not None else ():
        top, bottom = _box(line)[1::2]
        cuts = sorted({x for x, r_top, r_bottom in rules if r_top <= (top + bottom) / 2 <= r_bottom})
        cells: dict[int, list[tuple[str, list[str]]]] = {}  # cell -> [(word id, characters)]
        for word in line.xpath("span[@class='ocrx_word']"):
            conf = _WCONF.search(word.get("title", ""))
            if conf:
                confs.append(float(conf.group(1)))
            for text, centre in _chars(word):
                entries = cells.setdefault(bisect.bisect(cuts, centre), [])
                if not entries or entries[-1][0] != word.get("id"):
                    entries.append((word.get("id"), []))
                entries[-1][1].append(text)
        text = _line_text(cells)
        if text.strip():
            lines.append((top, text))
    return lines, confs


def _box(el: lxml.html.HtmlElement) -> tuple[int, int, int, int]:
    m = _BBOX.search(el.get("title", ""))
    return tuple(int(v) for v in m.groups()) if m else (0, 0, 0, 0)


def _chars(word: lxml.html.HtmlElement) -> list[tuple[str, float]]:
    """(character, x centre) of a word; the whole word at its centre without char boxes."""
    chars = [(c.text_content(), (_box(c)[0] + _box(c)[2]) / 2) for c in word.xpath("span[@class='ocrx_cinfo']")]
    if chars:
        return chars
    x0, _, x1, _ = _box(word)
    return [(word.text_content().strip(), (x0 + x1) / 2)]


def _line_text(cells: dict[int, list[tuple[str, list[str]]]]) -> str:
    """Cells in order, tab-separated; inside a cell words space-separated, CJK gaps closed."""
    if not cells:
        return ""
    texts = {}
    for index, entries in cells.items():
        words = ["".join(chars).strip() for _, chars in entries]
        texts[index] = _CJK_GAP.sub("", " ".join(w for w in words if w))
    cells_in_order = [texts.get(i, "") for i in range(min(texts), max(texts) + 1)]
    if len(cells_in_order) > 1:
        cells_in_order = [_ONE_GLYPH.sub("1", cell) for cell in cells_in_order]
    return "\t".join(cells_in_order)


def mean_confidence(results: list[OcrResult]) -> float | None:
    """Word-weighted mean confidence over several OCR'd pages."""
    words = sum(r.words for r in results if r.confidence is not None)
    if not words:
        return None
    return round(sum(r.confidence * r.words for r in results if r.confidence is not None) / words, 1)


def add_tables(doc: LoadedDocument, results: list[OcrResult]) -> None:
    """The OCR'd pages' tables into ``doc``, a table continued on the next page joined."""
    for grid, merges in join_pages([r.tables for r in results]):
        doc.tables.append(grid)
        doc.table_merges.append(merges)


def load_image(data: bytes, *, content_type: str = "") -> LoadedDocument:
    """A scanned report delivered as an image (multi-page TIFFs page by page)."""
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        image = Image.open(io.BytesIO(data))
        frames = [frame.copy() for frame in ImageSequence.Iterator(image)]
    except Image.DecompressionBombError as exc:
        raise ExtractionError(f"image too large to OCR safely: {exc}") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise ExtractionError(f"image could not be decoded (corrupt or truncated?): {exc}") from exc
    results = [ocr_image(frame) for frame in frames]
    text = "\n".join(r.text for r in results)
    doc = LoadedDocument(format="image", text=text, ocr=True, ocr_confidence=mean_confidence(results))
    add_tables(doc, results)
    doc.title = next((line for line in text.splitlines() if line.strip()), "")[:200]
    if not text.strip():
        doc.warnings.append("OCR found no text in the image")
    return doc
