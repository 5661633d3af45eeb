"""The consistency rules R1-R5 of the spec (勾稽关系), applied to one report's cells.

Every rule instance that could be evaluated is returned, passed or failed, as
``{"rule", "ok", "detail", "cells", "expected", "found"}``; nothing is ever corrected.
An instance with a null cell is not evaluated (R5 already names what is missing).
Rows whose cell boundaries were inferred from a rule (run-on text) say so in that rule's
detail, since passing it is then no evidence.
"""
from __future__ import annotations

from ogi import schema
from pipelines.values import is_null_token

APPLICANTS = [col for col, _ in schema.APPLICANT_COLUMNS]
PARTS = [col for col in APPLICANTS if col != "total"]
OUTCOMES = ["upheld", "corrected", "other", "pending"]
_TOL = 1e-6
#: Problems that mean a cell of part 三 or 四 is not known (R5); "segmented" is only a note.
_R5_KINDS = {"missing_cell", "extra_cell", "ambiguous_split", "unreadable"}
_LEAF_PREFIXES = ("result.withheld.", "result.unavailable.", "result.not_processed.")
_OTHER_SUBROWS = ("result.other.no_correction", "result.other.no_fee", "result.other.other")


def run_checks(values: dict[str, dict], template: str | None, problems: list[dict] | None = None) -> list[dict]:
    """All rule results for one report (template None or 'legacy': only what its cells allow)."""
    problems = problems or []
    inferred = {p["row"]: p for p in problems if p.get("kind") == "segmented"}
    get = _getter(values)
    joint = any("R3-result-total" in p.get("detail", "") for p in inferred.values())
    results = _r1(get) + _r2(get, values, inferred) + _r3(get, values, joint) + _r4(get, inferred)
    if template in ("2019", "2021"):
        results += _r5(values, template, problems)
    return results


def _getter(values: dict[str, dict]):
    def get(key: str) -> float | None:
        cell = values.get(key)
        return None if cell is None else cell.get("value")

    return get


def _result(rule: str, cells: list[str], expected: float, found: float, what: str, note: str = "") -> dict:
    ok = abs(expected - found) < _TOL
    detail = f"{what}: expected {_fmt(expected)}, found {_fmt(found)}" + (f" ({note})" if note else "")
    return {"rule": rule, "ok": ok, "detail": detail, "cells": cells, "expected": expected, "found": found}


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _sum(get, keys: list[str]) -> float | None:
    parts = [get(k) for k in keys]
    return None if any(p is None for p in parts) else float(sum(parts))


def _r1(get) -> list[dict]:
    """New + carried over == result total + carried forward, per column."""
    out = []
    for col in APPLICANTS:
        left = [f"applications.new.{col}", f"applications.carried_over.{col}"]
        right = [f"applications.result.total.{col}", f"applications.carried_forward.{col}"]
        a, b = _sum(get, left), _sum(get, right)
        if a is not None and b is not None:
            out.append(_result("R1-balance", left + right, a, b, f"column {col}: new + carried over vs total + carried forward"))
    return out


def _r2(get, values, inferred) -> list[dict]:
    """Row total == sum of the six applicant columns, per printed row."""
    rows = sorted({k.split(".", 1)[1].rsplit(".", 1)[0] for k in values if k.startswith("applications.")})
    out = []
    for row in rows:
        if values.get(f"applications.{row}.total", {}).get("derived"):
            continue
        parts = [f"applications.{row}.{c}" for c in PARTS]
        total, found = _sum(get, parts), get(f"applications.{row}.total")
        if total is not None and found is not None:
            note = "cell boundaries were inferred with this rule" if row in inferred else ""
            out.append(_result("R2-row-total", parts + [f"applications.{row}.total"], total, found, f"row {row}", note))
    return out


def leaf_rows(values) -> list[str]:
    """The result rows that add up to （七）总计 (all of them, so that a missing row blocks the rule);
    （六） counts through its 2021 sub-rows when they were printed, else as one row."""
    subrows_printed = any(k.startswith(tuple(f"applications.{r}." for r in _OTHER_SUBROWS)) for k in values)
    leaves = [row for row, _, _ in schema.APPLICATION_ROWS if row.startswith(("result.disclosed", "result.partial"))
              or row.startswith(_LEAF_PREFIXES)]
    return leaves + (list(_OTHER_SUBROWS) if subrows_printed else ["result.other"])


def _r3(get, values, inferred: bool) -> list[dict]:
    """Result total == sum of all leaf result rows, per column."""
    out = []
    note = "cell boundaries of some rows were inferred with this rule" if inferred else ""
    leaves = leaf_rows(values)
    for col in APPLICANTS:
        keys = [f"applications.{r}.{col}" for r in leaves]
        total, found = _sum(get, keys), get(f"applications.result.total.{col}")
        if total is not None and found is not None:
            out.append(_result("R3-result-total", keys + [f"applications.result.total.{col}"], total, found,
                               f"column {col}: sum of result rows vs （七）总计", note))
    return out


def _r4(get, inferred) -> list[dict]:
    """Appeals: total == upheld + corrected + other + pending, per group."""
    out = []
    note = "cell boundaries were inferred with this rule" if "appeals" in inferred else ""
    for group, _ in schema.APPEAL_GROUPS:
        keys = [f"appeals.{group}.{o}" for o in OUTCOMES]
        total, found = _sum(get, keys), get(f"appeals.{group}.total")
        if total is not None and found is not None:
            out.append(_result("R4-appeals-total", keys + [f"appeals.{group}.total"], total, found, group, note))
    return out


def _r5(values, template: str, problems: list[dict]) -> list[dict]:
    """Every cell of parts 三 and 四 found: one failure per row with a problem or missing cells."""
    out = []
    flagged = set()
    for p in problems:
        if p.get("table") in ("applications", "appeals") and p.get("kind") in _R5_KINDS:
            flagged.add(p["row"])
            out.append(_fail5(p["cells"], f"row {p['row']}: {p['detail']}"))
    missing: dict[str, list[str]] = {}
    for key in schema.keys_for(template):
        if key.key.startswith(("applications.", "appeals.")) and key.key not in values:
            row = "appeals" if key.key.startswith("appeals.") else key.key.split(".", 1)[1].rsplit(".", 1)[0]
            if row not in flagged:
                missing.setdefault(row, []).append(key.key)
    for row, keys in missing.items():
        out.append(_fail5(keys, f"row {row}: {len(keys)} cell(s) not found"))
    blank = [k for k, v in values.items() if k.startswith(("applications.", "appeals.")) and v.get("value") is None
             and not v.get("derived") and not _placeholder(v.get("raw", ""))]
    blank = [k for k in blank if _row_of(k) not in flagged]
    for row in sorted({_row_of(k) for k in blank}):
        keys = [k for k in blank if _row_of(k) == row]
        raws = ", ".join(repr(values[k]["raw"]) for k in keys)
        out.append(_fail5(keys, f"row {row}: {len(keys)} cell(s) empty or unreadable ({raws})"))
    if not out:
        out.append({"rule": "R5-complete", "ok": True, "detail": "every cell of parts 三 and 四 found",
                    "cells": [], "expected": None, "found": None})
    return out


def _placeholder(raw: str) -> bool:
    return bool(raw.strip()) and is_null_token(raw)


def _row_of(key: str) -> str:
    return "appeals" if key.startswith("appeals.") else key.split(".", 1)[1].rsplit(".", 1)[0]


def _fail5(cells: list[str], detail: str) -> dict:
    return {"rule": "R5-complete", "ok": False, "detail": detail, "cells": list(cells), "expected": None, "found": None}
