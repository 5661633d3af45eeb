"""Ruled tables of a scanned page as grids: deskew, ruling lines, cells, one OCR read per cell.

Full-page OCR loses the statistics tables of a scan: digits of neighbouring cells run
together, rules are read as ``1``, and a row's cells can no longer be told apart (15 % of the
cells right with tesseract, 26 % with RapidOCR, ``bench/results/ocr_engines.txt``). The
tables' own ruling lines say where every cell is, so they are used instead:

1. **deskew**: the angle whose horizontal projection of the ink is sharpest (rules and text
   lines become one-row peaks), searched coarse to fine within ``MAX_SKEW``;
2. **lines**: morphological opening with long thin kernels keeps the horizontal and vertical
   rules (character strokes are shorter than a row is high, so they do not close a cell);
3. **cells**: the white regions the rules enclose; a table is one connected set of rules.
   Each cell's row and column come from the cell edges of its table (a merged cell spans
   every row/column start its box covers), so merged cells expand into the grid convention
   of every other format (:mod:`pipelines.grid`), and a table continued on the next page
   with the same columns is joined into one grid;
4. **OCR per cell**: every non-blank cell cropped to its ink, binarised at 300 ppi and read on
   its own, all cells of a page in one tesseract run per model (a list of images, so the
   models load once): ``chi_sim`` and the digits-only English model, whose reading is kept
   where the cell is a number (:func:`_pick`); where the two read different numbers, the
   row's total decides (:func:`settle_by_totals`), never a guess;
5. **labels** read with a few wrong characters are snapped to the template's printed label
   (:func:`snap_label`), so the table reader (:mod:`pipelines.stat_tables`) finds its rows
   and columns by label as in any born-digital table.

Each cell's text is an :class:`OcrText`, a ``str`` that also carries tesseract's confidence
(0-100, the lowest word confidence in the cell), so the confidence reaches the record's
``cells`` with the value (:func:`pipelines.values.cell_record`). Measured on rendered scans
(150-300 dpi, skewed, JPEG): ``bench/results/ocr_engines.txt``.
"""
from __future__ import annotations

import functools
import itertools
import math
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from domain import schema
from domain.chinese import normalize_label
from pipelines.grid import Merge, join_split
from pipelines.loaded import ExtractionError
from pipelines.segment import row_total_valid
from pipelines.values import is_null_token, parse_cell

#: Largest skew straightened (degrees); a page turned further was not scanned for reading.
MAX_SKEW = 3.0
OCR_TIMEOUT_S = 180
#: Rule lengths and gaps as fractions of an inch (the page width tells the resolution).
_H_RULE_IN = 0.30  # a horizontal rule is longer than any character stroke
_V_RULE_IN = 0.25  # a vertical rule spans at least two one-line rows (character strokes are shorter)
_MIN_CELL_IN = 0.06  # smaller white regions are gaps between rules, not cells
#: Cells are read at this resolution: both models read best near it (at 400, 5 was read as 9).
_CELL_PPI = 300
_EDGE_TOL_IN = 0.05  # cell edges closer than this are the same grid line
#: A label read this close to one of the template's (difflib ratio) is that label.
_SNAP_RATIO = 0.6
_OTHER_LABELS = ("信息内容", "申请人情况", "法人或其他组织", "三、本年度办理结果",
                 "(本列数据的勾稽关系为:第一项加第二项之和,等于第三项加第四项之和)")
_CJK = re.compile(r"[\u3400-\u9fff]")


class OcrText(str):
    """Text read by OCR with tesseract's confidence (0-100) for it; behaves as the plain text.
    ``other``: a second engine's different reading of the same cell, for the totals to settle."""

    confidence: float | None
    other: OcrText | None

    def __new__(cls, text: str, confidence: float | None = None, other: OcrText | None = None) -> OcrText:
        obj = super().__new__(cls, text)
        obj.confidence = confidence
        obj.other = other
        return obj


#: An OCR engine over cell images: their texts, in order.
CellReader = Callable[[list[Image.Image]], list["OcrText"]]


@dataclass
class ScanTable:
    """One ruled table of a page: its grid, merged regions, box and column starts (pixels)."""

    grid: list[list[str]]
    merges: list[Merge]
    box: tuple[int, int, int, int]
    col_x: list[int] = field(default_factory=list)
    ppi: float = 300.0


@dataclass
class _Cell:
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 inside the rules
    row: int = 0
    col: int = 0
    rowspan: int = 1
    colspan: int = 1
    text: str = ""


def deskew(gray: np.ndarray) -> tuple[np.ndarray, float]:
    """The page turned straight, and the angle it was turned by (degrees)."""
    small = cv2.resize(gray, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA) if gray.shape[1] > 1400 else gray
    ink = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)[1]
    best = 0.0
    for step, span in ((0.2, MAX_SKEW), (0.02, 0.2)):
        angles = np.arange(best - span, best + span + step / 2, step)
        best = float(max(angles, key=lambda a: _sharpness(ink, a)))
    if abs(best) < 0.02:
        return gray, 0.0
    return _rotate(gray, best), best


def _sharpness(ink: np.ndarray, angle: float) -> float:
    profile = _rotate(ink, angle, fill=0).sum(axis=1, dtype=np.float64)
    return float(np.square(np.diff(profile)).sum())


def _rotate(image: np.ndarray, angle: float, fill: int = 255) -> np.ndarray:
    h, w = image.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=fill)


def find_tables(gray: np.ndarray, ppi: float) -> list[list[_Cell]]:
    """The cells of each ruled table on a straight page, tables top to bottom."""
    ink = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)[1]
    rules = _rules(ink, ppi)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(rules, connectivity=8)
    min_side = ppi * 0.5
    tables = [i for i in range(1, count) if stats[i, cv2.CC_STAT_WIDTH] > min_side and stats[i, cv2.CC_STAT_HEIGHT] > ppi * 0.1]
    for t in tables:  # a table cut by the page edge lacks its last rule: its frame closes the open cells
        x, y, w, h = (int(v) for v in stats[t, :4])
        cv2.rectangle(rules, (x, y), (x + w - 1, y + h - 1), 255, 2)
        labels[y:y + h, x:x + w][rules[y:y + h, x:x + w] > 0] = t
    holes_n, holes, hstats, _ = cv2.connectedComponentsWithStats(255 - rules, connectivity=4)
    out = []
    for t in sorted(tables, key=lambda i: stats[i, cv2.CC_STAT_TOP]):
        x, y, w, h = (int(v) for v in stats[t, :4])
        cells = []
        for i in range(1, holes_n):
            hx, hy, hw, hh = (int(v) for v in hstats[i, :4])
            if hx <= x or hy <= y or hx + hw >= x + w or hy + hh >= y + h:
                continue  # outside this table, or the page around it
            if hw < ppi * _MIN_CELL_IN or hh < ppi * _MIN_CELL_IN:
                continue
            if not _enclosed_by(labels, t, hx, hy, hw, hh):
                continue
            cells.append(_Cell((hx, hy, hx + hw, hy + hh)))
        if len(cells) >= 2:
            out.append(cells)
    return out


def _rules(ink: np.ndarray, ppi: float) -> np.ndarray:
    """Mask of the horizontal and vertical rules (gaps from JPEG noise and joints closed).

    A vertical run counts as a rule when it is longer than two one-line rows, or when it is
    at least a short row high and joins two horizontal rules (a one-row table left alone at the
    top of a page); a character's stroke is shorter, and the padding keeps it off the rules."""
    h_len, v_len, v_short = max(15, int(ppi * _H_RULE_IN)), max(8, int(ppi * _V_RULE_IN)), max(6, int(ppi * 0.1))
    horizontal = _runs(ink, (h_len, 1), (9, 1))
    near = cv2.dilate(horizontal, cv2.getStructuringElement(cv2.MORPH_RECT, (3, 7)))
    vertical = np.zeros_like(ink)
    for runs, bridged in ((_runs(ink, (1, v_short), (1, 1)), False), (_runs(ink, (1, v_len), (1, 9)), True)):
        count, labels, stats, _ = cv2.connectedComponentsWithStats(runs, connectivity=8)
        keep = np.zeros(count, dtype=bool)
        for i in range(1, count):
            x, y, w, h = (int(v) for v in stats[i, :4])
            keep[i] = bridged or (near[y, x + w // 2] > 0 and near[y + h - 1, x + w // 2] > 0)
        vertical |= np.where(keep[labels], 255, 0).astype(np.uint8)
    rules = cv2.bitwise_or(horizontal, vertical)
    return cv2.dilate(rules, cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3)))


def _runs(ink: np.ndarray, length: tuple[int, int], bridge: tuple[int, int]) -> np.ndarray:
    """Ink in straight runs of at least ``length`` (an opening), small breaks bridged after."""
    runs = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, length))
    return cv2.morphologyEx(runs, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, bridge))


def _enclosed_by(labels: np.ndarray, table: int, x: int, y: int, w: int, h: int) -> bool:
    """Whether the rules just outside a hole's box belong to ``table``."""
    return labels[max(y - 1, 0), x + w // 2] == table or labels[min(y + h, labels.shape[0] - 1), x + w // 2] == table


def locate(cells: list[_Cell], ppi: float) -> list[int]:
    """Row, column and spans of each cell from its table's cell edges; returns the column starts."""
    tol = ppi * _EDGE_TOL_IN
    col_x = _clusters([c.box[0] for c in cells], tol)
    row_y = _clusters([c.box[1] for c in cells], tol)
    for cell in cells:
        x0, y0, x1, y1 = cell.box
        cell.col = min(range(len(col_x)), key=lambda i: abs(col_x[i] - x0))
        cell.row = min(range(len(row_y)), key=lambda i: abs(row_y[i] - y0))
        cell.colspan = max(1, sum(1 for x in col_x if x0 - tol <= x < x1 - tol))
        cell.rowspan = max(1, sum(1 for y in row_y if y0 - tol <= y < y1 - tol))
    return col_x


def _grid(cells: list[_Cell]) -> tuple[list[list[str]], list[Merge]]:
    """The cells as a grid (a merged cell's text in every position it covers) and the merged
    regions; unlike :func:`pipelines.grid.expand` empty columns are kept, so grid columns stay
    the table's column starts and a continuation on the next page lines up with them."""
    rows = 1 + max(c.row + c.rowspan - 1 for c in cells)
    cols = 1 + max(c.col + c.colspan - 1 for c in cells)
    grid = [[""] * cols for _ in range(rows)]
    for cell in cells:
        for r in range(cell.row, min(cell.row + cell.rowspan, rows)):
            for c in range(cell.col, min(cell.col + cell.colspan, cols)):
                grid[r][c] = cell.text
    return grid, [(c.row, c.col, c.rowspan, c.colspan) for c in cells if c.rowspan > 1 or c.colspan > 1]


def _clusters(values: Sequence[int], tol: float) -> list[int]:
    """Representative positions of values that lie within ``tol`` of each other."""
    groups: list[list[int]] = []
    for v in sorted(values):
        if groups and v - groups[-1][-1] <= tol:
            groups[-1].append(v)
        else:
            groups.append([v])
    return [int(np.median(g)) for g in groups]


def read_tables(image: Image.Image, *, read_cells: CellReader | None = None) -> tuple[list[ScanTable], Image.Image]:
    """The ruled tables of a scanned page, OCR'd cell by cell (``read_cells``: the cells' images
    to their texts, :func:`tesseract_cells` unless a benchmark tries another engine), and the
    straightened page with the tables blanked out (its prose, for full-page OCR)."""
    gray = np.asarray(image.convert("L"))
    ppi = _ppi(image, gray)
    gray, _angle = deskew(gray)
    found = find_tables(gray, ppi)
    cells = [cell for table in found for cell in table]
    crops = [_crop(gray, cell.box, ppi) for cell in cells]  # None: a blank cell, not OCR'd
    inked = [i for i, crop in enumerate(crops) if crop is not None]
    for i, text in zip(inked, (read_cells or tesseract_cells)([crops[i] for i in inked]), strict=True):
        cells[i].text = snap_label(text)
    tables, prose = [], gray.copy()
    for table_cells in found:
        col_x = locate(table_cells, ppi)
        settle_by_totals(table_cells)
        grid, merges = _grid(table_cells)
        x0 = min(c.box[0] for c in table_cells)
        y0 = min(c.box[1] for c in table_cells)
        x1 = max(c.box[2] for c in table_cells)
        y1 = max(c.box[3] for c in table_cells)
        pad = int(ppi * 0.03)
        prose[max(y0 - pad, 0):y1 + pad, max(x0 - pad, 0):x1 + pad] = 255
        tables.append(ScanTable(grid, merges, (x0, y0, x1, y1), col_x, ppi))
    return tables, Image.fromarray(prose)


def _ppi(image: Image.Image, gray: np.ndarray) -> float:
    """Pixels per inch: the file's own resolution if plausible, else from an A4/Letter page width
    (kept within what scanners produce, so a strip or a thumbnail is not blown up 50 times)."""
    dpi = image.info.get("dpi")
    if dpi and 70 <= float(dpi[0]) <= 1200:
        return float(dpi[0])
    return min(max(gray.shape[1] / 8.4, 100.0), 600.0)


def join_pages(pages: list[list[ScanTable]]) -> list[tuple[list[list[str]], list[Merge]]]:
    """All pages' tables as grids; a page's first table continuing the previous page's last
    (same outer edges, each column start one of the part above) is joined to it."""
    out: list[tuple[list[list[str]], list[Merge]]] = []
    above: ScanTable | None = None
    for tables in pages:
        for pos, table in enumerate(tables):
            index = _continues(above, table) if pos == 0 and above is not None else None
            if above is not None and index is not None:
                out[-1] = join_split(out[-1], _widened(table, index, len(above.col_x)))
                table.col_x, table.box = above.col_x, (above.box[0], *table.box[1:])  # a third part sits on them too
            else:
                out.append((table.grid, table.merges))
            above = table if pos == len(tables) - 1 else None
        if not tables:
            above = None
    return out


def _continues(above: ScanTable, below: ScanTable) -> list[int] | None:
    """The column of the part above each column of ``below`` starts in, if ``below`` continues it."""
    tol = below.ppi * 0.08
    if abs(above.box[0] - below.box[0]) > tol or abs(above.box[2] - below.box[2]) > tol:
        return None
    upper = [x - above.box[0] for x in above.col_x]
    index = []
    for x in (x - below.box[0] for x in below.col_x):
        nearest = min(range(len(upper)), key=lambda i: abs(upper[i] - x))
        if abs(upper[nearest] - x) > tol:
            return None
        index.append(nearest)
    return index


def _widened(table: ScanTable, index: list[int], width: int) -> tuple[list[list[str]], list[Merge]]:
    """The lower part's grid on the upper part's columns (a continuation may have fewer)."""
    grid = []
    for row in table.grid:
        new = [""] * width
        for c, text in enumerate(row):
            new[index[c]] = text
        grid.append(new)
    ends = [*index[1:], width]
    return grid, [(r, index[c], rs, ends[min(c + cs, len(index)) - 1] - index[c]) for r, c, rs, cs in table.merges]


# --------------------------------------------------------------------------------------- OCR


def tesseract_cells(crops: list[Image.Image]) -> list[OcrText]:
    """Each cell read twice, with chi_sim and with the digits-only model, and the digits kept
    where the cell is a number (:func:`_pick`)."""
    chinese = tesseract_batch(crops, "chi_sim")
    digits = tesseract_batch(crops, "eng", whitelist="0123456789.-")
    return [_pick(chi, dig) for chi, dig in zip(chinese, digits, strict=True)]


def _pick(chi: OcrText, dig: OcrText) -> OcrText:
    """One reading of a cell from chi_sim's and the digits model's.

    Where both read a number the digits model's is kept (chi_sim misreads more digits), a
    different chi_sim number kept beside it (``other``: the row's total decides, see
    :func:`settle_by_totals`). Where chi_sim read no Chinese ("]" or "|" for 1) or nothing it
    trusts, the digits model's reading is taken when it is fairly sure, on as many lines (a
    vertical label read as digits is not a number). Placeholders ("/", "—") stay as chi_sim
    read them: the digits model can only answer with digits."""
    if not dig.strip() or (chi.strip() and is_null_token(chi)):
        return chi
    confidence = dig.confidence or 0
    if _looks_like_number(chi):
        return dig if _compact(chi) == _compact(dig) else OcrText(dig, confidence, chi)
    if not _CJK.search(chi) and confidence >= 50:
        return dig
    if dig.count("\n") == chi.count("\n") and confidence >= 80 and (chi.confidence or 0) < 50:
        return dig
    return chi


#: Rows whose numbers add up: the applications table (six applicant columns, then their total)
#: and the appeals row (three groups of four outcomes, then their total).
_TOTALLED_ROWS = {len(schema.APPLICANT_COLUMNS): len(schema.APPLICANT_COLUMNS),
                  len(schema.APPEAL_GROUPS) * len(schema.APPEAL_OUTCOMES): len(schema.APPEAL_OUTCOMES)}
#: At most this many combinations of two readings are tried in one group.
MAX_SETTLE = 64


def settle_by_totals(cells: list[_Cell]) -> None:
    """Cells read differently by the two engines, decided by the row's total (rules R2/R4): the
    one combination of readings that adds up wins. Undecided, the digits model's reading stays,
    as uncertain as the less sure reading (its confidence lowered to that)."""
    rows: dict[int, list[_Cell]] = {}
    for cell in sorted(cells, key=lambda c: c.col):
        rows.setdefault(cell.row, []).append(cell)
    for row in rows.values():
        numbers = [c for c in row if c.rowspan == 1 and c.colspan == 1 and _looks_like_number(c.text)]
        size = _TOTALLED_ROWS.get(len(numbers))
        for start in range(0, len(numbers), size) if size else ():
            _settle(numbers[start:start + size])
    for cell in cells:
        other = getattr(cell.text, "other", None)
        if other is not None:  # undecided
            cell.text = OcrText(cell.text, min(cell.text.confidence or 0, other.confidence or 0))


def _settle(group: list[_Cell]) -> None:
    options = [[c.text] + ([c.text.other] if getattr(c.text, "other", None) is not None else []) for c in group]
    combinations = math.prod(len(o) for o in options)
    if len(group) < 3 or combinations == 1 or combinations > MAX_SETTLE:
        return
    fits = [combo for combo in itertools.product(*options) if _adds_up(combo)]
    if len(fits) == 1:
        for cell, text in zip(group, fits[0], strict=True):
            cell.text = OcrText(text, text.confidence)


def _adds_up(texts: Sequence[str]) -> bool:
    values = [parse_cell(t).value for t in texts]
    return None not in values and row_total_valid(values)


def _compact(text: str) -> str:
    return re.sub(r"\s", "", text)


def snap_label(text: OcrText) -> OcrText:
    """A label cell read with a few wrong characters as the template's label it closest resembles
    ("本年增/碱" -> "本年增/减"), or the start or end of one when a page break cut it ("2.申请人");
    numbers, one-character fragments and readings near two different labels are kept as read."""
    compact = normalize_label(text)
    if len(_CJK.findall(compact)) < 2 or re.search(r"\d{2,}", compact):
        return text
    best: dict[str, float] = {}
    for label in _template_labels():
        pieces = [label] + ([label[:len(compact)], label[-len(compact):]] if len(compact) < len(label) else [])
        for piece in pieces:
            best[piece] = max(best.get(piece, 0.0), SequenceMatcher(None, compact, piece).ratio())
    (first, label), (second, _) = sorted(((score, piece) for piece, score in best.items()), reverse=True)[:2]
    if first < _SNAP_RATIO or first - second < 0.05:
        return text
    return OcrText(label, text.confidence)


@functools.cache
def _template_labels() -> tuple[str, ...]:
    """Every label the national template prints, normalised (row groups and leaves apart)."""
    labels = set(_OTHER_LABELS) | {f"第二十条第({n})项" for n in "一五六八九"}
    for items in (schema.ACTIVE_2019, schema.ACTIVE_2021):
        labels |= {item for _, item, _ in items} | {col for _, _, cols in items for _, col in cols}
    labels |= {part for _, label, _ in schema.APPLICATION_ROWS for part in label.split(" ")}
    labels |= {part for _, label in schema.APPEAL_GROUPS for part in label.split(" ")}
    labels |= {label for _, label in schema.APPLICANT_COLUMNS + schema.APPEAL_OUTCOMES}
    return tuple(sorted(normalize_label(label) for label in labels))


def _looks_like_number(text: str) -> bool:
    compact = _compact(text)
    return bool(compact) and not _CJK.search(compact) and sum(ch.isdigit() for ch in compact) >= len(compact) / 2


def _crop(gray: np.ndarray, box: tuple[int, int, int, int], ppi: float) -> Image.Image | None:
    """The cell's ink, black on white, at 300 ppi with a white margin; None if the cell is blank."""
    x0, y0, x1, y1 = box
    inset = max(2, int(ppi * 0.01))
    cell = gray[y0 + inset:y1 - inset, x0 + inset:x1 - inset]
    if cell.size == 0:
        return None
    ink = (cell < 128).astype(np.uint8)
    if ppi >= 250:
        ink = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))  # JPEG specks
    if ink.sum() < max(6, (ppi / 100) ** 2 * 3):
        return None
    ys, xs = np.nonzero(ink)
    piece = cell[max(ys.min() - 2, 0):ys.max() + 3, max(xs.min() - 2, 0):xs.max() + 3]
    scale = _CELL_PPI / ppi
    piece = cv2.resize(piece, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    piece = cv2.threshold(piece, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1]
    margin = _CELL_PPI // 15
    return Image.fromarray(cv2.copyMakeBorder(piece, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=255))


def tesseract_batch(images: list[Image.Image], lang: str, *, whitelist: str = "") -> list[OcrText]:
    """Each image's text (lines joined by newlines) from one tesseract run over all of them."""
    if not images:
        return []
    with tempfile.TemporaryDirectory(prefix="ogi-cells-") as tmp:
        paths = []
        for i, image in enumerate(images):
            paths.append(str(Path(tmp) / f"{i:04d}.png"))
            image.save(paths[-1])
        listing = Path(tmp) / "cells.txt"
        listing.write_text("\n".join(paths) + "\n")
        args = [str(listing), "stdout", "-l", lang, "--psm", "6", "-c", "tessedit_create_tsv=1"]
        if whitelist:
            args += ["-c", f"tessedit_char_whitelist={whitelist}"]
        out = run_tesseract(args, OCR_TIMEOUT_S, "OCR of table cells")
    return _parse_tsv(out.decode("utf-8", "replace"), len(images), cjk=lang.startswith("chi"))


def run_tesseract(args: list[str], timeout: float, what: str) -> bytes:
    """tesseract's stdout for ``args``, one thread (the worker runs documents side by side), or
    ExtractionError saying why: not installed, timed out, or failed with its own message."""
    binary = shutil.which("tesseract")
    if binary is None:
        raise ExtractionError("tesseract is not installed; run scripts/install-debian-packages.sh")
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    try:
        proc = subprocess.run([binary, *args], capture_output=True, timeout=timeout, check=False, env=env)
    except subprocess.TimeoutExpired as exc:
        raise ExtractionError(f"{what} timed out after {timeout:.0f} s") from exc
    if proc.returncode != 0:
        raise ExtractionError(f"tesseract failed (exit {proc.returncode}): {proc.stderr.decode('utf-8', 'replace')[:300]}")
    return proc.stdout


def _parse_tsv(tsv: str, count: int, *, cjk: bool) -> list[OcrText]:
    """Words per page (one page per cell image) joined into lines; the lowest word confidence."""
    lines: dict[int, dict[tuple[int, int, int], list[str]]] = {}
    confs: dict[int, list[float]] = {}
    for row in tsv.splitlines()[1:]:
        parts = row.split("\t")
        if len(parts) < 12 or parts[0] != "5" or not parts[11].strip():
            continue
        page = int(parts[1]) - 1
        key = (int(parts[2]), int(parts[3]), int(parts[4]))
        lines.setdefault(page, {}).setdefault(key, []).append(parts[11].strip())
        confs.setdefault(page, []).append(float(parts[10]))
    out = []
    for page in range(count):
        joiner = "" if cjk else " "
        text = "\n".join(joiner.join(words) for _, words in sorted(lines.get(page, {}).items()))
        conf = confs.get(page)
        out.append(OcrText(text, round(min(conf), 1) if conf else None))
    return out
