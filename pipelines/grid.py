"""Merged table cells (HTML rowspan/colspan, DOCX gridSpan/vMerge) expanded into rectangular grids.

One convention for every format, documented on :class:`pipelines.loaded.LoadedDocument`: the
text of a merged cell is repeated into every position it covers, and the merged regions are
returned alongside so that consumers can tell copies from originals. Spans are capped because
real pages carry ``rowspan="999"`` typos that would otherwise create hundreds of phantom rows.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

#: Largest colspan honoured; rowspans are additionally clipped to the rows the table has.
MAX_SPAN = 64

#: A cell text that begins a new numbered row label (一、 / （一） / 1. / 1、).
_NEW_LABEL = re.compile(r"\s*(?:[（(][一二三四五六七八九十\d]+[）)]|[一二三四五六七八九十]+、|\d+\s*[.、．])")
_LABEL_TEXT = re.compile(r"[\u3400-\u9fff]")

Merge = tuple[int, int, int, int]  # row, col, rowspan, colspan of the top-left origin


@dataclass
class SpanCell:
    """One source cell before expansion."""

    text: str
    rowspan: int = 1
    colspan: int = 1


def expand(rows: list[list[SpanCell]], *, max_span: int = MAX_SPAN) -> tuple[list[list[str]], list[Merge]]:
    """Expand ``rows`` into a rectangular grid.

    Rows are kept even when all their cells are empty (a blank data row is still a row of the
    form); only rows without any cell (``<tr></tr>``) and columns empty in every row (layout
    padding) are dropped. The grid ends with the last column a cell starts in, so an absurd
    ``colspan`` cannot widen it.

    ``rowspan <= 0`` means "to the end of the table" (HTML's ``rowspan="0"``).
    """
    filled: dict[tuple[int, int], str] = {}
    merges: list[Merge] = []
    last_start = -1
    nrows = len(rows)
    for r, row in enumerate(rows):
        c = 0
        for cell in row:
            while (r, c) in filled:
                c += 1
            rs = nrows - r if cell.rowspan <= 0 else min(cell.rowspan, max_span, nrows - r)
            cs = max(1, min(cell.colspan, max_span))
            for dr in range(rs):
                for dc in range(cs):
                    filled[(r + dr, c + dc)] = cell.text
            if rs > 1 or cs > 1:
                merges.append((r, c, rs, cs))
            last_start = max(last_start, c)
            c += cs
    # Columns right of the last column any cell starts in hold only copies of an oversized colspan.
    width = last_start + 1
    merges = [(r, c, rs, min(cs, width - c)) for r, c, rs, cs in merges]
    merges = [m for m in merges if m[2] > 1 or m[3] > 1]
    grid = [[filled.get((r, c), "") for c in range(width)] for r in range(nrows)]
    return _drop_empty(grid, merges, {r for r, row in enumerate(rows) if row})


def _drop_empty(grid: list[list[str]], merges: list[Merge], rows_with_cells: set[int]) -> tuple[list[list[str]], list[Merge]]:
    """Remove cell-less rows and all-empty columns, and remap the merged regions."""
    keep_rows = [r for r, row in enumerate(grid) if any(row) or r in rows_with_cells]
    width = len(grid[0]) if grid else 0
    keep_cols = [c for c in range(width) if any(grid[r][c] for r in keep_rows)]
    row_at = {r: i for i, r in enumerate(keep_rows)}
    col_at = {c: i for i, c in enumerate(keep_cols)}
    out = [[grid[r][c] for c in keep_cols] for r in keep_rows]
    remapped = []
    for r, c, rs, cs in merges:
        rows_in = [row_at[x] for x in range(r, r + rs) if x in row_at]
        cols_in = [col_at[x] for x in range(c, c + cs) if x in col_at]
        if rows_in and cols_in and (len(rows_in) > 1 or len(cols_in) > 1):
            remapped.append((rows_in[0], cols_in[0], len(rows_in), len(cols_in)))
    return out, remapped


def grid_to_text(grid: list[list[str]], merges: list[Merge] = ()) -> str:
    """One line per row, cells tab-separated; covered (non-origin) merged positions are left empty
    so the text reads like the printed table and no value appears twice."""
    covered = {
        (r + dr, c + dc)
        for r, c, rs, cs in merges
        for dr in range(rs)
        for dc in range(cs)
        if dr or dc
    }
    lines = []
    for r, row in enumerate(grid):
        cells = ["" if (r, c) in covered else " ".join(v.split()) for c, v in enumerate(row)]
        lines.append("\t".join(cells).rstrip("\t"))
    return "\n".join(lines)


def place(cells: list[tuple[int, int, int, int, str]]) -> list[list[SpanCell]]:
    """Rows of SpanCells from cells with known positions ``(row, col, rowspan, colspan, text)``
    (PDF geometry); grid positions no cell covers become empty cells so nothing shifts left."""
    covered: dict[tuple[int, int], tuple[int, int]] = {}
    origins = {}
    for r, c, rs, cs, text in cells:
        origins[(r, c)] = SpanCell(text, rs, cs)
        for dr in range(rs):
            for dc in range(cs):
                covered.setdefault((r + dr, c + dc), (r, c))
    nrows = 1 + max((r for r, _ in covered), default=-1)
    ncols = 1 + max((c for _, c in covered), default=-1)
    rows = []
    for r in range(nrows):
        row = []
        for c in range(ncols):
            owner = covered.get((r, c))
            if owner is None:
                row.append(SpanCell(""))
            elif owner == (r, c):
                row.append(origins[owner])
        rows.append(row)
    return rows


def join_split(
    top: tuple[list[list[str]], list[Merge]], bottom: tuple[list[list[str]], list[Merge]]
) -> tuple[list[list[str]], list[Merge]]:
    """One table from a table split over a page break (same columns).

    A vertically merged label cut by the break (``三、本年度办理结果`` spanning rows on both pages)
    continues at the top of the next page either empty or with the rest of its text
    (``（四）无`` / ``法提供``). When one of the two parts spans several rows, the upper part is a
    text label, and the lower part is empty or does not start a new numbered label, the parts
    become one region carrying the joined text. Numbers are never joined or carried over.
    """
    (grid_a, merges_a), (grid_b, merges_b) = top, bottom
    offset = len(grid_a)
    grid = [list(row) for row in grid_a] + [list(row) for row in grid_b]
    regions_a = {(r, c): (r, c, rs, cs) for r, c, rs, cs in merges_a}
    regions_b = {(r + offset, c): (r + offset, c, rs, cs) for r, c, rs, cs in merges_b}
    if not grid_b:
        return grid, merges_a
    for c in range(len(grid_a[-1]) if grid_a else 0):
        upper = _region_at(regions_a, offset - 1, c)
        lower = regions_b.get((offset, c), (offset, c, 1, 1))
        if upper is None or upper[3] != lower[3] or max(upper[2], lower[2]) < 2:
            continue
        label, fragment = grid[upper[0]][c], grid[offset][c]
        if not _LABEL_TEXT.search(label) or _NEW_LABEL.match(fragment):
            continue
        regions_b.pop((offset, c), None)
        joined = (upper[0], c, upper[2] + lower[2], upper[3])
        regions_a[(upper[0], c)] = joined
        for dr in range(joined[2]):
            for dc in range(joined[3]):
                grid[joined[0] + dr][c + dc] = label + fragment
    return grid, sorted(regions_a.values()) + sorted(regions_b.values())


def _region_at(regions: dict[tuple[int, int], Merge], row: int, col: int) -> Merge | None:
    """The region starting in column ``col`` that covers ``row`` (a 1x1 region if none does)."""
    for r, c, rs, cs in regions.values():
        if c == col and r <= row < r + rs:
            return (r, c, rs, cs)
    if any(c < col < c + cs and r <= row < r + rs for r, c, rs, cs in regions.values()):
        return None  # inside a region that starts further left
    return (row, col, 1, 1)


def to_html(grid: list[list[str]], merges: list[Merge] = ()) -> str:
    """The grid as an HTML ``<table>`` with its merged regions as rowspan/colspan again
    (for displaying extracted tables, and for round-trip tests of the HTML loader)."""
    from html import escape

    spans = {(r, c): (rs, cs) for r, c, rs, cs in merges}
    covered = {(r + dr, c + dc) for r, c, rs, cs in merges for dr in range(rs) for dc in range(cs)} - set(spans)
    rows = []
    for r, row in enumerate(grid):
        cells = []
        for c, text in enumerate(row):
            if (r, c) in covered:
                continue
            rs, cs = spans.get((r, c), (1, 1))
            attrs = (f' rowspan="{rs}"' if rs > 1 else "") + (f' colspan="{cs}"' if cs > 1 else "")
            body = "<br>".join(escape(line) for line in text.split("\n"))
            cells.append(f"<td{attrs}>{body}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return "<table border=\"1\">\n" + "\n".join(rows) + "\n</table>"
