"""The three statistics tables of a report, read into canonical keys (``domain.schema``).

Input is whatever the loaders produced: rectangular grids (HTML/DOCX/PDF tables, merged
cells expanded, either convention: text repeated into the span or only at its origin) and
the document text. Both are read; grids win where they hold a table, and the text fills in
rows the grids lack or garbled (PDF tables broken at page ends), or whole tables (txt
files, PDFs whose table lines were not detected, run-on page dumps).

Rows and columns are found by their printed labels (:mod:`pipelines.labels`), never by
position alone: in grids the header rows name every column, in text the row label precedes
its cells. A row whose number of cells is not what the template prints is reported as a
problem (rule R5) and its cells are left out rather than shifted into the wrong columns.
"""
from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from domain import schema
from domain.chinese import normalize_label
from pipelines import labels
from pipelines.segment import appeal_groups_valid, row_total_valid, split_run
from pipelines.textgrid import TextCell, text_cells
from pipelines.values import cell_record, derived_record, looks_numeric, parse_cell, to_yuan

logger = logging.getLogger(__name__)

TABLES = ("active", "applications", "appeals")
APPLICANTS = [col for col, _ in schema.APPLICANT_COLUMNS]
APPEAL_KEYS = [f"{g}.{o}" for g, _ in schema.APPEAL_GROUPS for o, _ in schema.APPEAL_OUTCOMES]
OTHER_SUBROWS = ("result.other.no_correction", "result.other.no_fee", "result.other.other")
#: Printed columns of each active-disclosure item, per template (schema order).
_ITEM_COLUMNS = {
    template: {item: [col for col, _ in cols] for item, _, cols in items}
    for template, items in (("2019", schema.ACTIVE_2019), ("2021", schema.ACTIVE_2021))
}
_ITEM_COLUMNS_ANY = {
    item: list(dict.fromkeys(_ITEM_COLUMNS["2019"].get(item, []) + _ITEM_COLUMNS["2021"].get(item, [])))
    for item in labels.ACTIVE_ITEMS
}
_DEFAULT_UNITS = {"amount_10k_yuan": "万元"}

_ACTIVE_ANCHORS = ("第二十条",)
_ACTIVE_CELL_START = "信息内容"  # only as a cell of its own: prose says "发布信息内容准确" too
_APPLICATION_ANCHORS = ("本年新收", "申请人情况", "勾稽关系")
_END_ANCHORS = ("存在的主要问题", "存在的问题", "主要问题及改进", "其他需要报告")


@dataclass
class TableResult:
    """What the tables said: cells by canonical key, the template, and what went wrong."""

    values: dict[str, dict] = field(default_factory=dict)
    template: str | None = None
    problems: list[dict] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # table -> "grid" | "text" | "runon"

    @property
    def warnings(self) -> list[str]:
        """The problems as readable lines, for a record's ``warnings``."""
        return [f"{p['table']} {p['row']}: {p['detail']}" for p in self.problems]


class _Collector:
    """Cells and problems of one reading (grids or text) of a document."""

    def __init__(self, kind: str, ocr: bool):
        self.kind = kind  # "grid" | "text"
        self.ocr = ocr
        self.values: dict[str, dict] = {}
        self.problems: list[dict] = []
        self.columns_seen: set[str] = set()
        self.runon: set[str] = set()

    def put(self, key: str, raw: str) -> None:
        if key in self.values:  # a row printed twice: the first one counts, a difference is noted
            if self.values[key]["raw"] != raw.strip():
                table, row = key.split(".", 1)[0], _row_of(key.split(".", 1)[0], key)
                self.problem(table, row, "duplicate_row", f"printed twice, differently: {key} "
                             f"{self.values[key]['raw']!r} kept, {raw.strip()!r} ignored", [key], [raw])
            return
        unit = _DEFAULT_UNITS.get(key.rsplit(".", 1)[-1], "")
        self.values[key] = cell_record(raw, default_unit=unit, ocr=self.ocr)

    def problem(self, table: str, row: str, kind: str, detail: str, cells: Sequence[Any] = (), found: Sequence[Any] = ()) -> None:
        self.problems.append(
            {"table": table, "row": row, "kind": kind, "detail": detail, "cells": list(cells), "found": list(found)}
        )

    def count(self, table: str) -> int:
        prefix = table + "."
        return sum(1 for k in self.values if k.startswith(prefix))


def extract_values(
    grids: list[list[list[str]]],
    text: str,
    *,
    template_hint: str | None = None,
    ocr: bool = False,
) -> TableResult:
    """Read the three tables from ``grids`` (preferred) and ``text`` (fallback per table)."""
    from_grids = _Collector("grid", ocr)
    _read_grids(grids or [], from_grids)
    from_text = _Collector("text", ocr)
    _read_text(text or "", from_text)
    result = TableResult()
    for table in TABLES:
        if from_grids.count(table):
            _take(result, from_grids, table)
            _fill_rows(result, from_text, table)
        else:
            _take(result, from_text, table)
    result.template = _template(result, [from_grids, from_text], template_hint)
    _derive(result)
    logger.debug("tables: %d cells, template %s, sources %s, %d problem(s)",
                  len(result.values), result.template, result.sources, len(result.problems))
    return result


def _take(result: TableResult, source: _Collector, table: str) -> None:
    prefix = table + "."
    result.values.update({k: v for k, v in source.values.items() if k.startswith(prefix)})
    result.problems += [p for p in source.problems if p["table"] == table]
    if source.count(table) or any(p["table"] == table for p in source.problems):
        result.sources[table] = "runon" if table in source.runon else source.kind


def _fill_rows(result: TableResult, text: _Collector, table: str) -> None:
    """The text's reading of rows the grids lack or garbled (PDF table lines lost across a page
    break, header cells merged into value cells): both read the same document, and a row the
    text gives complete is better than the same row broken in the grid."""
    text_bad = {p["row"] for p in text.problems if p["table"] == table and p["kind"] != "segmented"}
    text_rows = {_row_of(table, k) for k in text.values if k.startswith(table + ".")} - text_bad
    garbled = {p["row"] for p in result.problems
               if p["table"] == table and p["kind"] in ("missing_cell", "extra_cell", "unreadable")}
    for row in garbled & text_rows:
        result.sources[table] = "grid+text"
        result.problems = [p for p in result.problems if not (p["table"] == table and p["row"] == row)]
        for key in [k for k in result.values if k.startswith(table + ".") and _row_of(table, k) == row]:
            del result.values[key]
    have = {_row_of(table, k) for k in result.values if k.startswith(table + ".")}
    have |= {p["row"] for p in result.problems if p["table"] == table}
    for key, cell in text.values.items():
        if key.startswith(table + ".") and _row_of(table, key) not in have:
            result.values[key] = cell
            result.sources[table] = "grid+text"
    result.problems += [p for p in text.problems if p["table"] == table and p["row"] not in have]


def _row_of(table: str, key: str) -> str:
    """The row name problems use: ``applications.new.total`` -> ``new``; all appeals cells -> ``appeals``."""
    return table if table == "appeals" else key[len(table) + 1:].rsplit(".", 1)[0]


def _template(result: TableResult, sources: list[_Collector | None], hint: str | None) -> str | None:
    """2019 or 2021, from the active table's column labels, else the (六) sub-rows, else the hint."""
    seen = set().union(*(s.columns_seen for s in sources if s is not None))
    if seen & labels.COLUMNS_2021:
        return "2021"
    if seen & labels.COLUMNS_2019:
        return "2019"
    if any(k.startswith(f"applications.{row}.") for k in result.values for row in OTHER_SUBROWS):
        return "2021"
    return hint


def _derive(result: TableResult) -> None:
    """Values the spec defines from others: 2021 ``result.other`` and the procurement amount in yuan."""
    values = result.values
    if result.template == "2021" and any(k.startswith("applications.result.other.no_correction.") for k in values):
        for col in APPLICANTS:
            parts = [values.get(f"applications.{row}.{col}", {}).get("value") for row in OTHER_SUBROWS]
            total = sum(parts) if all(p is not None for p in parts) else None
            values[f"applications.result.other.{col}"] = derived_record(total, ocr=any(
                values.get(f"applications.{row}.{col}", {}).get("ocr") for row in OTHER_SUBROWS))
    amount = values.get("active.procurement.amount")
    if amount and amount["value"] is not None:
        unit = amount["unit"] or ("元" if amount["value"] == 0 else "")
        yuan = to_yuan(amount["value"], unit)
        if yuan is not None:
            values["active.procurement.amount_yuan"] = derived_record(yuan, unit="元", raw=amount["raw"], ocr=amount["ocr"])


# ----------------------------------------------------------------------------------- grids


def _read_grids(grids: list[list[list[str]]], out: _Collector) -> None:
    """Split the grid rows into the three tables (by anchor labels) and read each."""
    parts: dict[str, list[list[list[str]]]] = {t: [] for t in TABLES}
    region: str | None = None
    for grid in grids:
        if region == "appeals":
            region = None
        current: list[list[str]] | None = None
        for row in grid:
            new_region = _grid_region(row, region)
            if new_region != region or current is None:
                region = new_region
                current = []
                if region:
                    parts[region].append(current)
            if region:
                current.append([c or "" for c in row])
    for block in parts["active"]:
        _grid_active(block, out)
    colmap: dict[str, int] | None = None
    for block in parts["applications"]:
        colmap = _grid_applications(block, out, colmap)
    for block in parts["appeals"]:
        if not out.count("appeals"):
            _grid_appeals(block, out)


def _grid_region(row: list[str], region: str | None) -> str | None:
    text = normalize_label("".join(c or "" for c in row))
    if any(a in text for a in _APPLICATION_ANCHORS):
        return "applications"
    if "行政复议" in text or "复议后起诉" in text:
        return "appeals"
    if region is None and (_active_anchor(text) or labels.phrases_in_order(text, labels.ACTIVE_COLUMNS)):
        return "active"
    return region


def _value_positions(row: list[str]) -> list[int]:
    return [i for i, c in enumerate(row) if c.strip() and looks_numeric(c)]


def _dedupe(cells: list[str]) -> list[str]:
    """Label cells without the copies a merged cell leaves in neighbouring positions."""
    out: list[str] = []
    for cell in cells:
        if cell.strip() and (not out or normalize_label(out[-1]) != normalize_label(cell)):
            out.append(cell)
    return out


def _grid_active(rows: list[list[str]], out: _Collector) -> None:
    columns: dict[str, int] = {}
    for row in rows:
        numeric = _value_positions(row)
        if not numeric:
            header = {}
            for pos, cell in enumerate(row):
                key, _ = labels.last_phrase(labels.norm(cell), labels.ACTIVE_COLUMNS)
                if key and key not in header:
                    header[key] = pos
            if header:
                columns = header
                out.columns_seen.update(header)
            continue
        first = min([numeric[0]] + list(columns.values()))
        item = labels.active_item("".join(_dedupe(row[:first])))
        if item is None:
            continue
        wanted = [c for c in columns if c in _ITEM_COLUMNS_ANY[item]]
        if wanted:
            for col in wanted:
                pos = columns[col]
                out.put(f"active.{item}.{col}", row[pos] if pos < len(row) else "")
        else:
            _assign_in_order(out, "active", item, _default_columns(item, out), [row[i] for i in numeric])


def _default_columns(item: str, out: _Collector) -> list[str]:
    """The item's columns when no header row named them: by the template the other headers showed."""
    template = "2021" if out.columns_seen & labels.COLUMNS_2021 else "2019"
    return _ITEM_COLUMNS[template].get(item) or _ITEM_COLUMNS_ANY[item]


def _grid_applications(rows: list[list[str]], out: _Collector, colmap: dict[str, int] | None) -> dict[str, int] | None:
    """Read application rows; columns come from the header rows (or the previous block's).

    Value rows that lost their label (converters drop merged label cells) wait in ``pending``
    until the next labelled row shows where they sit; :func:`_map_unlabelled` places them by
    the form's fixed row order or leaves them out with a reason."""
    header: list[list[str]] = []
    previous: str | None = None
    width = max((len(r) for r in rows), default=0)
    if colmap and max(colmap.values()) >= width:
        colmap = None
    pending: list[list[str]] = []
    for row in rows:
        aligned = colmap is not None and len(row) == width  # ragged rows: a PDF grid gone wrong
        first = min(colmap.values()) if aligned else (_value_positions(row) or [len(row)])[0]
        key = labels.application_row(_dedupe(row[:first]), previous)
        has_values = bool(_value_positions(row[first:]))
        if key is not None and not has_values and pending:
            row, has_values = pending.pop(), True  # a PDF wrap: the label came on the next grid row
        if key is None and has_values and (previous or colmap or header):
            pending.append(row)
            continue
        if key is None or not has_values:
            if colmap is None and not has_values and not previous:
                header.append(row)  # everything above the first data row is header
            continue
        if colmap is None:
            colmap = _applicant_columns(header, width)
        for lost_key, lost_row in _map_unlabelled(out, pending, previous, key):
            _application_row(out, lost_key, lost_row, colmap, width, header)
        pending = []
        previous = key
        _application_row(out, key, row, colmap, width, header)
    for lost_key, lost_row in _map_unlabelled(out, pending, previous, None):
        _application_row(out, lost_key, lost_row, colmap, width, header)
    return colmap


def _application_row(out: _Collector, key: str, row: list[str], colmap: dict[str, int] | None, width: int,
                     header: list[list[str]]) -> None:
    if colmap is not None and len(row) == width:
        _grid_row(out, "applications", key, row, colmap, header)
    else:
        _assign_in_order(out, "applications", key, APPLICANTS, [row[i] for i in _value_positions(row)])


#: The rows each form prints, in order (2021: （六） is a heading over its three sub-rows).
_FORM_ROWS = {
    "2019": [r for r, _, t in schema.APPLICATION_ROWS if "2019" in t],
    "2021": [r for r, _, t in schema.APPLICATION_ROWS if "2021" in t and r != "result.other"],
}


def _map_unlabelled(out: _Collector, pending: list[list[str]], before: str | None,
                    after: str | None) -> list[tuple[str, list[str]]]:
    """Rows without a label between the rows ``before`` and ``after`` (None: table start / end).

    They take the rows the form prints between those two, in order, only when every form that
    prints both agrees on exactly that many rows there; otherwise nothing is guessed: the
    rows are left out and a problem says why (R5 then names the cells not found)."""
    if not pending:
        return []
    gaps = set()
    for order in _FORM_ROWS.values():
        start = order.index(before) + 1 if before in order else 0 if before is None else None
        stop = order.index(after) if after in order else len(order) if after is None else None
        if start is not None and stop is not None and stop - start == len(pending):
            gaps.add(tuple(order[start:stop]))
    where = f"between {before or 'the table start'} and {after or 'the table end'}"
    if len(gaps) == 1:
        keys = gaps.pop()
        out.problem("applications", keys[0], "unlabelled_rows",
                    f"{len(pending)} row(s) without a label {where} placed by the form's row order: {', '.join(keys)}")
        return list(zip(keys, pending, strict=False))
    why = "the forms disagree on the rows there" if gaps else "no form prints that many rows there"
    out.problem("applications", before or after or "?", "unlabelled_rows",
                f"{len(pending)} row(s) without a label {where} left unread: {why}",
                found=[" | ".join(r) for r in pending])
    return []


def _applicant_columns(header: list[list[str]], width: int) -> dict[str, int] | None:
    """Column position of each applicant column, from the header cells above it; None if incomplete."""
    colmap: dict[str, int] = {}
    for pos in range(width):
        key = labels.applicant_column([r[pos] for r in header if pos < len(r)])
        if key and key not in colmap:
            colmap[key] = pos
    return colmap if len(colmap) == len(APPLICANTS) else None


def _grid_row(out: _Collector, table: str, key: str, row: list[str], colmap: dict[str, int], header: Any) -> None:
    """One data row read by header positions; blank mapped cells and unheaded extra cells are problems."""
    blank, garbled = [], []
    for col, pos in colmap.items():
        raw = row[pos] if pos < len(row) else ""
        out.put(_key(table, key, col), raw)
        if not raw.strip():
            blank.append(col)
        elif _garbled(raw, [h[pos] for h in header if pos < len(h)]):
            garbled.append(col)
    first = min(colmap.values())
    mapped = set(colmap.values())
    extra = [
        row[p] for p in range(first, len(row))
        if p not in mapped and row[p].strip() and not any(p < len(h) and h[p].strip() for h in header)
    ]
    if blank:
        cells = [_key(table, key, c) for c in blank]
        out.problem(table, key, "missing_cell", f"{len(blank)} cell(s) empty or missing: {', '.join(blank)}", cells)
    if garbled:
        cells = [_key(table, key, c) for c in garbled]
        out.problem(table, key, "unreadable", f"{len(garbled)} cell(s) not a number or run into a label: "
                    + ", ".join(repr(out.values[c]["raw"]) for c in cells), cells)
    if extra:
        out.problem(table, key, "extra_cell", f"{len(extra)} cell(s) beyond the printed columns", found=extra)


def _garbled(raw: str, header_cells: list[str]) -> bool:
    """A value cell that is unreadable, or carries its own column's header text ("结果维持0")."""
    if not parse_cell(raw).readable:
        return True
    text = labels.norm(raw)
    return any(h.strip() and labels.norm(h) and labels.norm(h) in text for h in header_cells)


def _grid_appeals(rows: list[list[str]], out: _Collector) -> None:
    header: list[list[str]] = []
    for row in rows:
        numeric = _value_positions(row)
        if len(numeric) < 5:
            header.append(row)
            continue
        colmap: dict[str, int] = {}
        for pos in range(len(row)):
            found = labels.appeal_column([h[pos] for h in header if pos < len(h)])
            if found and ".".join(found) not in colmap:
                colmap[".".join(found)] = pos
        if len(colmap) == len(APPEAL_KEYS):
            _grid_row(out, "appeals", "appeals", row, colmap, header)
        else:
            _assign_in_order(out, "appeals", "appeals", APPEAL_KEYS, [row[i] for i in numeric])
        return


# ------------------------------------------------------------------------------------ text


@dataclass
class _Segment:
    """Label cells followed by the value cells printed after them."""

    labels: list[str] = field(default_factory=list)
    values: list[TextCell] = field(default_factory=list)


def _read_text(text: str, out: _Collector) -> None:
    parts: dict[str, list[_Segment]] = {t: [] for t in TABLES}
    region: str | None = None
    segment: _Segment | None = None
    for cell in text_cells(text):
        if cell.runon or looks_numeric(cell.text):
            if region and segment is not None:
                segment.values.append(cell)
                if cell.runon:
                    out.runon.add(region)
            continue
        new_region = _text_region(normalize_label(cell.text), region)
        if new_region == "end":
            break
        if new_region != region:
            region = new_region
            segment = None
        if region is None:
            continue
        if segment is None or segment.values:
            segment = _Segment()
            parts[region].append(segment)
        segment.labels.append(cell.text)
    _text_active(parts["active"], out)
    _text_applications(parts["applications"], out)
    _text_appeals(parts["appeals"], out)


def _text_region(text: str, region: str | None) -> str | None:
    if region in (None, "active") and any(a in text for a in _APPLICATION_ANCHORS):
        return "applications"
    if region == "applications" and ("行政复议" in text or "复议后起诉" in text):
        return "appeals"
    if region is None and _active_anchor(text):
        return "active"
    if region is not None and any(a in text for a in _END_ANCHORS):
        return "end"
    return region


def _active_anchor(text: str) -> bool:
    return any(a in text for a in _ACTIVE_ANCHORS) or text.startswith(_ACTIVE_CELL_START)


def _text_active(segments: list[_Segment], out: _Collector) -> None:
    columns: list[str] = []
    for seg in segments:
        label = labels.norm("".join(seg.labels))
        item, end = labels.last_phrase(label, labels.ACTIVE_ITEMS)
        header = labels.phrases_in_order(label[: max(end - 2, 0)] if item else label, labels.ACTIVE_COLUMNS)
        if header:
            columns = header
            out.columns_seen.update(header)
        if item is None or not seg.values:
            continue
        wanted = [c for c in columns if c in _ITEM_COLUMNS_ANY[item]] or _default_columns(item, out)
        _assign_cells(out, "active", item, wanted, seg.values)


def _text_applications(segments: list[_Segment], out: _Collector) -> None:
    previous: str | None = None
    for seg in segments:
        key = labels.application_row(seg.labels, previous)
        if key is None:
            continue
        previous = key
        if seg.values:
            _assign_cells(out, "applications", key, APPLICANTS, seg.values, row_total_valid)
    _resolve_by_columns(out)


#: Ambiguous run-on rows tried jointly against the column totals, at most this many combinations.
MAX_JOINT = 5_000


def _resolve_by_columns(out: _Collector) -> None:
    """Settle ambiguous run-on result rows with the column sums (R3), when exactly one choice fits.

    A row like ``220000022`` splits as 22/0/0/0/0/0/22 or 2/20/0/0/0/0/22; the printed
    （七）总计 of each column usually allows only one of them once the other rows are known.
    """
    pending = [p for p in out.problems if p["kind"] == "ambiguous_split" and p["table"] == "applications"
               and p["row"].startswith("result.") and p["row"] != "result.total"]
    if not pending:
        return
    options = [split_run(p["found"][0].split(), len(APPLICANTS), row_total_valid, limit=50) for p in pending]
    combos = 1
    for opt in options:
        combos *= max(len(opt), 1)
    if combos > MAX_JOINT or not all(options):
        return
    fits = [combo for combo in itertools.product(*options) if _columns_add_up(out, pending, combo)]
    if len(fits) != 1:
        return
    for problem, cut in zip(pending, fits[0], strict=False):
        for col, part in zip(APPLICANTS, cut, strict=False):
            out.put(_key("applications", problem["row"], col), part)
        problem["kind"] = "segmented"
        problem["detail"] = (f"cell boundaries lost in {problem['found'][0]!r}; the only split satisfying "
                             "R2-row-total and, with the other rows, R3-result-total")


def _columns_add_up(out: _Collector, pending: list[dict], combo: Sequence[Any]) -> bool:
    from pipelines.checks import leaf_rows

    trial = {k: v["value"] for k, v in out.values.items()}
    for problem, cut in zip(pending, combo, strict=False):
        for col, part in zip(APPLICANTS, cut, strict=False):
            trial[_key("applications", problem["row"], col)] = float(part)
    rows = leaf_rows(trial)
    for col in APPLICANTS:
        parts = [trial.get(f"applications.{r}.{col}") for r in rows]
        total = trial.get(f"applications.result.total.{col}")
        if total is None or any(p is None for p in parts) or abs(sum(parts) - total) > 1e-6:
            return False
    return True


def _text_appeals(segments: list[_Segment], out: _Collector) -> None:
    cells = [v for seg in segments for v in seg.values]
    if cells:
        _assign_cells(out, "appeals", "appeals", APPEAL_KEYS, cells, appeal_groups_valid)


def _assign_cells(out: _Collector, table: str, row: str, columns: list[str], cells: list[TextCell], valid: Any = None) -> None:
    """Put one row's text cells under ``columns``; split run-on digits only when forced."""
    if not any(c.runon for c in cells):
        _assign_in_order(out, table, row, columns, [c.text for c in cells])
        return
    chunks = [part for c in cells for part in c.text.split()]
    cuts = split_run(chunks, len(columns), valid)
    raw = " ".join(c.text for c in cells)
    names = [_key(table, row, col) for col in columns]
    if len(cuts) != 1:
        why = "several splits fit" if cuts else "no split fits"
        out.problem(table, row, "ambiguous_split", f"cell boundaries lost in {raw!r}: {why}", names, [raw])
        return
    for col, part in zip(columns, cuts[0], strict=False):
        out.put(_key(table, row, col), part)
    rule = {row_total_valid: "R2-row-total", appeal_groups_valid: "R4-appeals-total"}.get(valid, "")
    detail = f"cell boundaries lost in {raw!r}; the only split" + (f" satisfying {rule}" if rule else "")
    out.problem(table, row, "segmented", detail, names, [raw])


def _assign_in_order(out: _Collector, table: str, row: str, columns: list[str], raws: list[str]) -> None:
    """Values in printed order; a wrong count is a problem, never a shift."""
    if len(raws) == len(columns):
        for col, raw in zip(columns, raws, strict=False):
            out.put(_key(table, row, col), raw)
        return
    kind = "missing_cell" if len(raws) < len(columns) else "extra_cell"
    names = [_key(table, row, col) for col in columns]
    detail = f"{len(raws)} cell(s) where the template prints {len(columns)}; row left out, not shifted"
    out.problem(table, row, kind, detail, names, raws)


def _key(table: str, row: str, col: str) -> str:
    return f"appeals.{col}" if table == "appeals" else f"{table}.{row}.{col}"
