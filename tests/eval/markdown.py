"""Markdown renderings of an evaluation report, the way converters hand them over.

docling, MinerU, marker and pandoc turn a report into Markdown with the statistics tables as
GitHub/pandoc pipe tables (merged cells printed once, then empty) or as HTML ``<table>`` blocks,
headings as ``#``, the title in bold, and the page breaks of the original cutting a table into
pieces. Each damage seen in real conversions has a switch here, so a test can make one
report in every shape and assert every cell against ``tests/eval/expected``:

* ``page_breaks``: the applications table is cut after these row counts, each piece a new pipe
  table (a page footer line in between, the header row repeated or not);
* ``split_header``: the applicant header row broken over two rows (``业 | 构 | 益组织 | 务机构``);
* ``drop_labels``: rows of the applications table whose label cell came out empty;
* ``html_tables``: tables as ``<table>`` HTML (MinerU).
"""
from __future__ import annotations

import html

from eval.evalset import _HEADINGS, Table, _place, _title, tables_for


def to_markdown(exp: dict, *, page_breaks: tuple[int, ...] = (), split_header: bool = False,
                drop_labels: tuple[str, ...] = (), html_tables: bool = False, repeat_header: bool = False) -> bytes:
    """The report as a converter's Markdown (see the module docstring for the switches)."""
    tables = tables_for(_exact(exp))
    lines = [f"# **{_title(exp)}**", "", "## 一、总体情况", "", "- 本年度工作**正常**开展。", ""]
    for index, (heading, table) in enumerate(zip(_HEADINGS, tables, strict=True)):
        lines += [f"## {heading}", ""]
        grid = _grid(table)
        if index == 1:
            grid = _damage(grid, split_header=split_header, drop_labels=drop_labels)
        if html_tables:
            lines += [_html_table(grid), ""]
            continue
        head = 3 if index == 1 else 1
        for piece_no, piece in enumerate(_pieces(grid, page_breaks if index == 1 else (), head)):
            if piece_no:
                lines += ["", f"— {piece_no + 1} —", "", "<!-- page break -->", ""]
                if repeat_header:
                    piece = grid[:head] + piece
            lines += _pipe_table(piece)
        lines.append("")
    lines += ["## 五、存在的主要问题及改进情况", "", "无。", "", "## 六、其他需要报告的事项", "", "*无。*"]
    return "\n".join(lines).encode("utf-8")


def _exact(exp: dict) -> dict:
    """``exp`` with every value printed in full (the shared renderer's ``{:g}`` rounds 24252.311082)."""
    raw = {k: repr(v) for k, v in exp["values"].items() if isinstance(v, float) and not v.is_integer() and f"{v:g}" != repr(v)}
    return {**exp, "raw": {**raw, **exp.get("raw", {})}}


def _grid(table: Table) -> list[list[str]]:
    """Merged cells printed once (top-left), the positions they cover left empty."""
    placed = _place(table)
    width = max(c + cell.colspan for (r, c), cell in placed.items())
    return [[placed[(r, c)].text if (r, c) in placed else "" for c in range(width)] for r in range(len(table))]


def _damage(grid: list[list[str]], *, split_header: bool, drop_labels: tuple[str, ...]) -> list[list[str]]:
    out = [list(row) for row in grid]
    for row in out:
        if any(label and label in " ".join(row[:3]) for label in drop_labels):
            row[:3] = ["", "", ""]
    if split_header:  # "商业企业" -> "商业" over "企业", as a narrow column's header wraps
        header = out[2]
        top = [cell[: len(cell) // 2] if len(cell) > 2 else cell for cell in header]
        bottom = [cell[len(cell) // 2:] if len(cell) > 2 else "" for cell in header]
        out[2:3] = [top, bottom]
    return out


def _pieces(grid: list[list[str]], breaks: tuple[int, ...], head: int) -> list[list[list[str]]]:
    cuts = [0] + [head + b for b in breaks] + [len(grid)]
    return [grid[a:b] for a, b in zip(cuts, cuts[1:], strict=False) if b > a]


def _pipe_table(rows: list[list[str]]) -> list[str]:
    width = max(len(r) for r in rows)
    cells = [[c.replace("|", "\\|").replace("\n", " ") for c in r] + [""] * (width - len(r)) for r in rows]
    lines = ["| " + " | ".join(cells[0]) + " |", "|" + "|".join(["---"] * width) + "|"]
    return lines + ["| " + " | ".join(r) + " |" for r in cells[1:]]


def _html_table(rows: list[list[str]]) -> str:
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table>{body}</table>"
