"""The three statistics tables of a report, as merged-cell grids, rendered like Word exports them.

The seed reports are DOCX files flattened to text, which loses the merged cells. The printed
layout of each table is fixed by the national templates, so the simulator rebuilds the real
layout (rowspan/colspan as the templates print them) and fills in the seed's own values. The
same grid is rendered to Word-exported HTML (``MsoTableGrid``/``MsoNormal``, ``&nbsp;`` in empty
cells, as TRS and Hanweb editors paste it) and to DOCX, so an extractor sees the real thing.
"""
from __future__ import annotations

import html
from dataclasses import dataclass

from domain.schema import ACTIVE_2019, ACTIVE_2021, APPEAL_OUTCOMES, APPLICANT_COLUMNS, APPLICATION_ROWS

ACTIVE_GROUPS = {
    "2019": (("第二十条第（一）项", ("rules", "normative_docs")), ("第二十条第（五）项", ("licensing", "other_services")),
             ("第二十条第（六）项", ("penalty", "enforcement")), ("第二十条第（八）项", ("fees",)),
             ("第二十条第（九）项", ("procurement",))),
    "2021": (("第二十条第（一）项", ("rules", "normative_docs")), ("第二十条第（五）项", ("licensing",)),
             ("第二十条第（六）项", ("penalty", "enforcement")), ("第二十条第（八）项", ("fees",))),
}
APPLICATIONS_NOTE = "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）"


@dataclass
class Cell:
    text: str
    rowspan: int = 1
    colspan: int = 1


Table = list[list[Cell]]


def active_items(template: str) -> dict[str, tuple[str, tuple[tuple[str, str], ...]]]:
    """Item key -> (printed label, columns) for the active-disclosure table of ``template``."""
    return {key: (label, cols) for key, label, cols in (ACTIVE_2019 if template == "2019" else ACTIVE_2021)}


def active_table(template: str, values: dict[str, list[str]]) -> Table:
    """Part 二: one block per 第二十条 item group, four columns wide."""
    items = active_items(template)
    rows: Table = []
    for heading, keys in ACTIVE_GROUPS[template]:
        rows.append([Cell(heading, colspan=4)])
        cols = items[keys[0]][1]
        rows.append([Cell("信息内容")] + _fill([c[1] for c in cols], 3))
        for key in keys:
            label, cols = items[key]
            rows.append([Cell(label)] + _fill(values.get(key, [""] * len(cols)), 3))
    return rows


def _fill(texts: list[str], width: int) -> list[Cell]:
    """Cells for ``texts``; the last one spans what is left of ``width`` columns."""
    cells = [Cell(t) for t in texts[:width]]
    if cells and len(cells) < width:
        cells[-1].colspan = width - len(cells) + 1
    return cells


def application_layout(template: str) -> list[tuple[str, str | None, str]]:
    """(row key, group label or None, own label) for each value row, in printed order."""
    rows = [r for r in APPLICATION_ROWS if template in r[2]]
    layout: list[tuple[str, str | None, str]] = []
    group: str | None = None
    for i, (key, label, _) in enumerate(rows):
        nxt = rows[i + 1][1] if i + 1 < len(rows) else ""
        if " " in label:
            group, label = label.split(" ", 1)
        elif label.startswith("（") and nxt[:1].isdigit() and " " not in nxt:
            group = label  # 2021: （六）其他处理 is a group of three printed sub-rows, no row of its own
            continue
        elif not label[:1].isdigit():
            group = None
        layout.append((key, group, label))
    return layout


def applications_table(template: str, values: dict[str, list[str]]) -> Table:
    """Part 三: 3 label columns + 7 applicant columns, with the template's merged header."""
    rows: Table = [
        [Cell(APPLICATIONS_NOTE, rowspan=3, colspan=3), Cell("申请人情况", colspan=7)],
        [Cell("自然人", rowspan=2), Cell("法人或其他组织", colspan=5), Cell("总计", rowspan=2)],
        [Cell(label) for _, label in APPLICANT_COLUMNS[1:6]],
    ]
    layout = application_layout(template)
    results = [r for r in layout if r[0].startswith("result.")]
    seen_groups: set[str] = set()
    for key, group, label in layout:
        cells: list[Cell] = []
        if key == results[0][0]:
            cells.append(Cell("三、本年度办理结果", rowspan=len(results)))
        if not key.startswith("result."):
            cells.append(Cell(label, colspan=3))
        elif group is None:
            cells.append(Cell(label, colspan=2))
        else:
            if group not in seen_groups:
                seen_groups.add(group)
                cells.append(Cell(group, rowspan=sum(1 for r in layout if r[1] == group)))
            cells.append(Cell(label))
        rows.append(cells + [Cell(v) for v in values.get(key, [""] * 7)])
    return rows


def appeals_table(values: list[str]) -> Table:
    """Part 四: 行政复议 (5 columns) and 行政诉讼 (2 x 5 columns)."""
    outcomes = [label for _, label in APPEAL_OUTCOMES]
    return [
        [Cell("行政复议", colspan=5), Cell("行政诉讼", colspan=10)],
        [Cell(o, rowspan=2) for o in outcomes] + [Cell("未经复议直接起诉", colspan=5), Cell("复议后起诉", colspan=5)],
        [Cell(o) for o in outcomes * 2],
        [Cell(v) for v in (values or [""] * 15)],
    ]


def grid_width(table: Table) -> int:
    return sum(c.colspan for c in table[0])


def positions(table: Table) -> list[tuple[int, int, Cell]]:
    """(row, column, cell) of every cell on the expanded grid, resolving row spans from above."""
    taken: set[tuple[int, int]] = set()
    out = []
    for r, row in enumerate(table):
        c = 0
        for cell in row:
            while (r, c) in taken:
                c += 1
            out.append((r, c, cell))
            for dr in range(cell.rowspan):
                for dc in range(cell.colspan):
                    taken.add((r + dr, c + dc))
            c += cell.colspan
    return out


_TD = ('<td width="{w}"{span} valign="center" style="width:{pt:.1f}pt;border:solid windowtext 1.0pt;'
       'padding:0cm 5.4pt 0cm 5.4pt">\n<p class="MsoNormal" align="center" style="text-align:center">'
       '<span style="font-size:10.5pt;font-family:宋体">{text}</span></p>\n</td>')


def word_html(table: Table) -> str:
    """The table as Microsoft Word's "save as web page" writes it (and CMS editors keep it)."""
    width = grid_width(table)
    out = ['<table class="MsoTableGrid" border="1" cellspacing="0" cellpadding="0" width="100%"'
           ' style="border-collapse:collapse;border:none;mso-border-alt:solid windowtext .5pt">']
    for row in table:
        out.append('<tr style="height:20.0pt">')
        for cell in row:
            span = (f' colspan="{cell.colspan}"' if cell.colspan > 1 else "") + (
                f' rowspan="{cell.rowspan}"' if cell.rowspan > 1 else "")
            text = html.escape(cell.text) if cell.text.strip() else "&nbsp;"
            out.append(_TD.format(w=round(600 * cell.colspan / width), pt=450 * cell.colspan / width, span=span, text=text))
        out.append("</tr>")
    out.append("</table>")
    return "\n".join(out)
