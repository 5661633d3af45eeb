"""The evaluation set: hand-verified expected cells per real report, and the shapes we render them in.

``expected/<name>.json`` holds, per report of ``tests/fixtures/corpus``: metadata, every
cell value read by hand from the source (``values``), cells the source itself leaves
undecidable (``unverifiable``: the extractor must return null there, not a guess), cells
known only from the prose while the table lost them (``lost_in_source``: null is accepted
and not scored), the rule instances the report really fails (``failing_checks``, as
``rule:last cell``), ``raw`` for cells printed with more than a number
(``发包价561342.67元``), and ``ocr``/``checks`` flags for the scanned page (scored, not
required to be perfect; rules not scored on a partial page).

The renderers rebuild a report's three tables as Word lays out the national template
(rowspan/colspan included) so that one report can be tested as inline HTML, DOCX, PDF
(LibreOffice from that DOCX), tab-separated text and one-cell-per-line text. Shared by the tests and
``bench/extraction_accuracy.py``.
"""
from __future__ import annotations

import html
import io
import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from portal_simulator.report_tables import Cell, Table

from domain import schema

ROOT = Path(__file__).resolve().parents[2]
EXPECTED_DIR = Path(__file__).parent / "expected"
_ROW_LABELS = {row: label for row, label, _ in schema.APPLICATION_ROWS}
_LEAF_LABELS = {row: label.split(" ")[-1] for row, label in _ROW_LABELS.items()}


def load_expected() -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(EXPECTED_DIR.glob("*.json"))]


def expected(name: str) -> dict:
    return json.loads((EXPECTED_DIR / f"{name}.json").read_text(encoding="utf-8"))


def fixture_bytes(exp: dict) -> bytes:
    return (ROOT / exp["fixture"]).read_bytes()


def compare(got: dict[str, dict], exp: dict) -> dict:
    """Cell accuracy of ``got`` against ``exp``: right, wrong (key -> (expected, got)), guesses."""
    values = {k: (v or {}).get("value") for k, v in got.items()}
    lost = set(exp.get("lost_in_source", []))  # known from the prose, not recoverable from the table
    scored = {k: v for k, v in exp["values"].items() if not (k in lost and values.get(k) is None)}
    wrong = {k: (v, values.get(k)) for k, v in scored.items() if not _same(v, values.get(k))}
    guesses = [k for k in exp.get("unverifiable", []) if values.get(k) is not None]
    return {"total": len(scored), "right": len(scored) - len(wrong), "wrong": wrong, "guesses": guesses}


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) < 1e-6


def failing(checks: list[dict]) -> list[str]:
    return sorted(f"{c['rule']}:{c['cells'][-1] if c['cells'] else ''}" for c in checks if not c["ok"])


# ------------------------------------------------------------------------------ layouts


def _raw(exp: dict, key: str) -> str:
    if key in exp.get("raw", {}):
        return exp["raw"][key]
    value = exp["values"].get(key)
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def tables_for(exp: dict) -> list[Table]:
    """The three tables of ``exp`` laid out like the national template (Word export)."""
    template = exp["metadata"]["template"]
    return [active_table(exp, template), applications_table(exp, template), appeals_table(exp)]


def active_table(exp: dict, template: str) -> Table:
    items = schema.ACTIVE_2019 if template == "2019" else schema.ACTIVE_2021
    articles = {"rules": "（一）", "licensing": "（五）", "penalty": "（六）", "fees": "（八）", "procurement": "（九）"}
    width = 4
    rows: Table = []
    previous_cols = None
    for item, label, cols in items:
        if item in articles or cols != previous_cols:
            rows.append([Cell(f"第二十条第{articles.get(item, '')}项", colspan=width)])
            rows.append([Cell("信息内容")] + _spread([c[1] for c in cols], width - 1))
        values = [_raw(exp, f"active.{item}.{col}") for col, _ in cols]
        rows.append([Cell(label)] + _spread(values, width - 1))
        previous_cols = cols
    return rows


def _spread(texts: list[str], width: int) -> list[Cell]:
    """Cells across ``width`` columns; the last one spans what is left (as Word does)."""
    cells = [Cell(t) for t in texts]
    cells[-1].colspan = width - len(texts) + 1
    return cells


def applications_table(exp: dict, template: str) -> Table:
    cols = [c for c, _ in schema.APPLICANT_COLUMNS]
    rows: Table = [
        [Cell("（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）", rowspan=3, colspan=3),
         Cell("申请人情况", colspan=7)],
        [Cell("自然人", rowspan=2), Cell("法人或其他组织", colspan=5), Cell("总计", rowspan=2)],
        [Cell("商业企业"), Cell("科研机构"), Cell("社会公益组织"), Cell("法律服务机构"), Cell("其他")],
    ]
    has_subrows = any(k.startswith("applications.result.other.no_correction.") for k in exp["values"])
    printed = [r for r, _, t in schema.APPLICATION_ROWS
               if (template in t or r == "result.other") and (r == "result.other") != has_subrows
               or r != "result.other" and not r.startswith("result.other.") and template in t]
    result_rows = [r for r in printed if r.startswith("result.")]
    groups = {"withheld": "（三）不予公开", "unavailable": "（四）无法提供", "not_processed": "（五）不予处理",
              "other": "（六）其他处理"}
    for row in printed:
        values = [Cell(_raw(exp, f"applications.{row}.{c}")) for c in cols]
        if not row.startswith("result."):
            rows.append([Cell(_ROW_LABELS[row], colspan=3)] + values)
            continue
        lead = [Cell("三、本年度办理结果", rowspan=len(result_rows))] if row == result_rows[0] else []
        parts = row.split(".")
        if len(parts) == 3:
            group_rows = [r for r in result_rows if r.startswith(f"result.{parts[1]}.")]
            head = [Cell(groups[parts[1]], rowspan=len(group_rows))] if row == group_rows[0] else []
            rows.append(lead + head + [Cell(_LEAF_LABELS[row])] + values)
        else:
            rows.append(lead + [Cell(_LEAF_LABELS[row], colspan=2)] + values)
    return rows


def appeals_table(exp: dict) -> Table:
    outcomes = [label for _, label in schema.APPEAL_OUTCOMES]
    return [
        [Cell("行政复议", colspan=5), Cell("行政诉讼", colspan=10)],
        [Cell(o, rowspan=2) for o in outcomes] + [Cell("未经复议直接起诉", colspan=5), Cell("复议后起诉", colspan=5)],
        [Cell(o) for o in outcomes * 2],
        [Cell(_raw(exp, f"appeals.{g}.{o}")) for g, _ in schema.APPEAL_GROUPS for o, _ in schema.APPEAL_OUTCOMES],
    ]


_HEADINGS = ("二、主动公开政府信息情况", "三、收到和处理政府信息公开申请情况", "四、政府信息公开行政复议、行政诉讼情况")


def _sections(exp: dict, tables: list[Table] | None) -> Iterator[tuple[str, Table]]:
    """The three tables under their headings: ``tables`` (altered copies, in the checks tests) or the template's."""
    return zip(_HEADINGS, tables or tables_for(exp), strict=True)


def _width(placed: dict[tuple[int, int], Cell]) -> int:
    return max(c + cell.colspan for (_, c), cell in placed.items())


def _title(exp: dict) -> str:
    agency = exp["metadata"]["agency"][0]
    return f"{agency}{exp['metadata']['report_year']}年政府信息公开工作年度报告"


# ------------------------------------------------------------------------------ shapes


def to_html(exp: dict, tables: list[Table] | None = None) -> bytes:
    """An article page with Word-exported tables (MsoTableGrid, rowspan/colspan, &nbsp;)."""
    body = [f"<p class=MsoNormal align=center><b><span>{html.escape(_title(exp))}</span></b></p>",
            "<p class=MsoNormal><span>一、总体情况</span></p><p class=MsoNormal><span>本年度工作正常开展。</span></p>"]
    for heading, table in _sections(exp, tables):
        body.append(f"<p class=MsoNormal><span>{heading}</span></p>")
        body.append("<table class=MsoTableGrid border=1 cellspacing=0 cellpadding=0 style='border-collapse:collapse'>")
        for row in table:
            tds = "".join(
                f"<td{_span(c)} valign=top><p class=MsoNormal align=center><span lang=EN-US>&nbsp;"
                f"{html.escape(c.text)}</span><o:p></o:p></p></td>"
                for c in row
            )
            body.append(f"<tr>{tds}</tr>")
        body.append("</table>")
    body.append("<p class=MsoNormal><span>五、存在的主要问题及改进情况</span></p><p class=MsoNormal>无。</p>")
    body.append("<p class=MsoNormal><span>六、其他需要报告的事项</span></p><p class=MsoNormal>无。</p>")
    page = ("<html><head><meta charset=utf-8><meta name=\"ArticleTitle\" content=\"" + html.escape(_title(exp)) + "\">"
            f"<title>{html.escape(_title(exp))}</title></head><body><div class=WordSection1>"
            + "\n".join(body) + "</div></body></html>")
    return page.encode("utf-8")


def _span(cell: Cell) -> str:
    return (f" rowspan={cell.rowspan}" if cell.rowspan > 1 else "") + (f" colspan={cell.colspan}" if cell.colspan > 1 else "")


def to_docx(exp: dict, tables: list[Table] | None = None) -> bytes:
    """A DOCX with the same tables, merged cells made with python-docx ``merge``."""
    import docx

    document = docx.Document()
    document.add_paragraph(_title(exp))
    document.add_paragraph("一、总体情况")
    document.add_paragraph("本年度工作正常开展。")
    for heading, table in _sections(exp, tables):
        document.add_paragraph(heading)
        _docx_table(document, table)
    for heading in ("五、存在的主要问题及改进情况", "六、其他需要报告的事项"):
        document.add_paragraph(heading)
        document.add_paragraph("无。")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _docx_table(document, table: Table) -> None:
    placed = _place(table)
    height = len(table)
    width = _width(placed)
    grid = document.add_table(rows=height, cols=width)
    grid.style = "Table Grid"
    matrix = [list(row.cells) for row in grid.rows]  # grid.cell() rescans the table on every call
    for (r, c), cell in placed.items():
        target = matrix[r][c]
        if cell.rowspan > 1 or cell.colspan > 1:
            target = target.merge(matrix[r + cell.rowspan - 1][c + cell.colspan - 1])
        target.text = cell.text


def _place(table: Table) -> dict[tuple[int, int], Cell]:
    """Grid position of every cell's top-left corner (HTML table layout rules)."""
    taken: set[tuple[int, int]] = set()
    placed: dict[tuple[int, int], Cell] = {}
    for r, row in enumerate(table):
        c = 0
        for cell in row:
            while (r, c) in taken:
                c += 1
            placed[(r, c)] = cell
            for dr in range(cell.rowspan):
                for dc in range(cell.colspan):
                    taken.add((r + dr, c + dc))
            c += cell.colspan
    return placed


def to_pdf(docx_bytes: bytes) -> bytes:
    """LibreOffice's PDF of a DOCX (born-digital, with a text layer)."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if not soffice:
        raise RuntimeError("LibreOffice (soffice) is not installed; run scripts/install-debian-packages.sh")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "report.docx"
        src.write_bytes(docx_bytes)
        subprocess.run(
            [soffice, f"-env:UserInstallation=file://{tmp}/profile", "--headless", "--convert-to", "pdf",
             "--outdir", tmp, str(src)],
            check=True, capture_output=True, timeout=120,
        )
        return (Path(tmp) / "report.pdf").read_bytes()


def to_tsv_text(exp: dict, tables: list[Table] | None = None) -> bytes:
    """Plain text with tab-separated rows (merged cells printed once, then left empty)."""
    lines = [_title(exp), "一、总体情况", "本年度工作正常开展。"]
    for heading, table in _sections(exp, tables):
        lines.append(heading)
        placed = _place(table)
        width = _width(placed)
        for r in range(len(table)):
            lines.append("\t".join(placed[(r, c)].text if (r, c) in placed else "" for c in range(width)))
    lines += ["五、存在的主要问题及改进情况", "无。", "六、其他需要报告的事项", "无。"]
    return "\n".join(lines).encode("utf-8")


def to_cell_lines_text(exp: dict, tables: list[Table] | None = None) -> bytes:
    """DOCX saved as text, like the seeds: one cell per line after a tab, a blank line between
    rows, an empty ``\\t`` line where a merged cell from above covers the position, long labels
    wrapped onto a line without the tab, numbers padded with non-breaking spaces."""
    lines = [_title(exp), "", "一、总体情况", "本年度工作正常开展。"]
    for heading, table in _sections(exp, tables):
        lines += ["", heading]
        placed = _place(table)
        covered = {(r + dr, c + dc) for (r, c), cell in placed.items()
                   for dr in range(cell.rowspan) for dc in range(cell.colspan)}
        width = _width(placed)
        for r in range(len(table)):
            lines.append("")
            for c in range(width):
                if (r, c) in placed:
                    lines.append("\t" + _wrapped(placed[(r, c)].text, r + c))
                elif (r, c) in covered and (r - 1, c) in covered and not any((r, k) in placed for k in range(c)):
                    lines.append("\t")  # a row label merged from above: Word writes an empty cell
    lines += ["", "五、存在的主要问题及改进情况", "无。", "六、其他需要报告的事项", "无。"]
    return "\n".join(lines).encode("utf-8")


def _wrapped(text: str, salt: int) -> str:
    if text.replace(".", "").isdigit():
        return ("\u00a0" + text) if salt % 2 else (text + "\u00a0")
    return text[:4] + "\n" + text[4:] if len(text) > 10 else text
