"""The consistency rules of the spec (勾稽关系, R1-R5) and the checks researchers add (R6-R9),
applied to one report's cells (R6, R7: one report; R8, R9: two consecutive years).

Every rule instance that could be evaluated is returned, passed or failed, as
``{"rule", "ok", "detail", "cells", "expected", "found"}``; nothing is ever corrected.
An instance with a null cell is not evaluated (R5 already names what is missing).
Rows whose cell boundaries were inferred from a rule (run-on text) say so in that rule's
detail, since passing it is then no evidence. A rule that needs what is not there (the
previous year's report) is returned with ``ok`` None and a detail starting "not checked":
it is neither passed nor failed. The rules and their statements are in
:data:`domain.schema.RULES` (the codebook).
"""
from __future__ import annotations

import re
from collections.abc import Callable

from domain import schema
from pipelines.values import is_null_token

APPLICANTS = [col for col, _ in schema.APPLICANT_COLUMNS]
PARTS = [col for col in APPLICANTS if col != "total"]
OUTCOMES = ["upheld", "corrected", "other", "pending"]
_TOL = 1e-6
#: Problems that mean a cell of part 三 or 四 is not known (R5); "segmented" is only a note.
_R5_KINDS = {"missing_cell", "extra_cell", "ambiguous_split", "unreadable"}
_LEAF_PREFIXES = ("result.withheld.", "result.unavailable.", "result.not_processed.")
Getter = Callable[[str], "float | None"]
_OTHER_SUBROWS = ("result.other.no_correction", "result.other.no_fee", "result.other.other")


def run_checks(values: dict[str, dict], template: str | None, problems: list[dict] | None = None,
               text: str = "") -> list[dict]:
    """All single-report rule results (template None or 'legacy': only what its cells allow)."""
    problems = problems or []
    inferred = {p["row"]: p for p in problems if p.get("kind") == "segmented"}
    get = _getter(values)
    joint = any("R3-result-total" in p.get("detail", "") for p in inferred.values())
    results = _r1(get) + _r2(get, values, inferred) + _r3(get, values, joint) + _r4(get, inferred)
    if template in ("2019", "2021"):
        results += _r5(values, template, problems)
    return results + impossible_values(values) + text_totals(text, get)


def _getter(values: dict[str, dict]) -> Getter:
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


def _sum(get: Getter, keys: list[str]) -> float | None:
    parts = [get(k) for k in keys]
    return None if any(p is None for p in parts) else float(sum(parts))


def _r1(get: Getter) -> list[dict]:
    """New + carried over == result total + carried forward, per column."""
    out = []
    for col in APPLICANTS:
        left = [f"applications.new.{col}", f"applications.carried_over.{col}"]
        right = [f"applications.result.total.{col}", f"applications.carried_forward.{col}"]
        a, b = _sum(get, left), _sum(get, right)
        if a is not None and b is not None:
            out.append(_result("R1-balance", left + right, a, b, f"column {col}: new + carried over vs total + carried forward"))
    return out


def _r2(get: Getter, values: dict[str, dict], inferred: dict[str, dict]) -> list[dict]:
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


def leaf_rows(values: dict[str, dict]) -> list[str]:
    """The result rows that add up to （七）总计 (all of them, so that a missing row blocks the rule);
    （六） counts through its 2021 sub-rows when they were printed, else as one row."""
    subrows_printed = any(k.startswith(tuple(f"applications.{r}." for r in _OTHER_SUBROWS)) for k in values)
    leaves = [row for row, _, _ in schema.APPLICATION_ROWS if row.startswith(("result.disclosed", "result.partial"))
              or row.startswith(_LEAF_PREFIXES)]
    return leaves + (list(_OTHER_SUBROWS) if subrows_printed else ["result.other"])


def _r3(get: Getter, values: dict[str, dict], inferred: bool) -> list[dict]:
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


def _r4(get: Getter, inferred: dict[str, dict]) -> list[dict]:
    """Appeals: total == upheld + corrected + other + pending, per group."""
    out = []
    note = "cell boundaries were inferred with this rule" if "appeals" in inferred else ""
    for group, _ in schema.APPEAL_GROUPS:
        keys = [f"appeals.{group}.{o}" for o in OUTCOMES]
        total, found = _sum(get, keys), get(f"appeals.{group}.total")
        if total is not None and found is not None:
            out.append(_result("R4-appeals-total", keys + [f"appeals.{group}.total"], total, found, group, note))
    return out


def _r5(values: dict[str, dict], template: str, problems: list[dict]) -> list[dict]:
    """Every cell of parts 三 and 四 found: one failure per row with a problem or missing cells."""
    out = []
    flagged = set()
    for p in problems:
        if p.get("table") in ("applications", "appeals") and p.get("kind") in _R5_KINDS:
            flagged.add(p["row"])
            out.append(_fail5(p["cells"], f"row {p['row']}: {p['detail']}"))
    missing: dict[str, list[str]] = {}
    optional = _other_subrows_optional(values, template)
    for key in schema.keys_for(template):
        if key.key.startswith(("applications.", "appeals.")) and key.key not in values and not key.key.startswith(optional):
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


def _other_subrows_optional(values: dict[str, dict], template: str) -> tuple[str, ...]:
    """Key prefixes R5 need not find: a 2021-form report that prints （六）其他处理 as one row with
    every cell (as many still do, the 2019 way) is complete; its three sub-rows were never printed.
    Only when none of them was printed either: a sub-row printed alone is still a missing row."""
    prefixes = tuple(f"applications.{r}." for r in _OTHER_SUBROWS)
    printed = [k for k, v in values.items() if k.startswith("applications.result.other.") and not v.get("derived")
               and not k.startswith(prefixes)]
    if template == "2021" and len(printed) == len(APPLICANTS) and not any(k.startswith(prefixes) for k in values):
        return prefixes
    return ()


def _placeholder(raw: str) -> bool:
    return bool(raw.strip()) and is_null_token(raw)


def _row_of(key: str) -> str:
    return "appeals" if key.startswith("appeals.") else key.split(".", 1)[1].rsplit(".", 1)[0]


def _fail5(cells: list[str], detail: str) -> dict:
    return {"rule": "R5-complete", "ok": False, "detail": detail, "cells": list(cells), "expected": None, "found": None}


# ---- R6: values no count can have ----------------------------------------------------------------

_MONEY = ("amount", "amount_yuan", "amount_10k_yuan")
_SIGNED = ("change",)  # 本年增/减 is a change, negative by nature


def impossible_values(values: dict[str, dict]) -> list[dict]:
    """R6: a negative or fractional count, or a total smaller than one of its parts."""
    out = []
    for key, cell in values.items():
        value, col = cell.get("value"), key.rsplit(".", 1)[-1]
        if value is None or col in _MONEY:
            continue
        if value < 0 and col not in _SIGNED:
            out.append(_r6(key, f"{key} = {_fmt(value)}: a count cannot be negative", value))
        elif not float(value).is_integer():
            out.append(_r6(key, f"{key} = {_fmt(value)}: a count must be a whole number", value))
    get = _getter(values)
    for total, parts in _totals_and_parts(values):
        found = get(total)
        for part in parts:
            if found is not None and get(part) is not None and get(part) > found:
                out.append({"rule": "R6-impossible", "ok": False, "cells": [part, total], "expected": get(part),
                            "found": found, "detail": f"{total} = {_fmt(found)} is smaller than its part {part} = "
                                                      f"{_fmt(get(part))}"})
    if not out and values:
        out.append({"rule": "R6-impossible", "ok": True, "detail": "no negative, fractional or impossible count",
                    "cells": [], "expected": None, "found": None})
    return out


def _r6(key: str, detail: str, value: float) -> dict:
    return {"rule": "R6-impossible", "ok": False, "detail": detail, "cells": [key], "expected": None, "found": value}


def _totals_and_parts(values: dict[str, dict]) -> list[tuple[str, list[str]]]:
    rows = sorted({_row_of(k) for k in values if k.startswith("applications.")})
    pairs = [(f"applications.{row}.total", [f"applications.{row}.{c}" for c in PARTS]) for row in rows]
    pairs += [(f"applications.result.total.{c}", [f"applications.{r}.{c}" for r in leaf_rows(values)]) for c in APPLICANTS]
    pairs += [(f"appeals.{g}.total", [f"appeals.{g}.{o}" for o in OUTCOMES]) for g, _ in schema.APPEAL_GROUPS]
    return pairs


# ---- R7: totals the text states against the table --------------------------------------------------

_N = r"\s*(\d+)\s*件"
#: (what the text says, the table's keys that must add up to it, what to call it).
_STATED = (
    (re.compile(r"(?:共|累计|全年)(?:收到|新收|受理)(?:各类)?政府信息公开申请(?:共)?" + _N), ["applications.new.total"],
     "applications received"),
    (re.compile(r"(?:发生|收到|办理|涉及)?(?:政府信息公开)?行政复议(?:案件)?(?:共)?" + _N), ["appeals.review.total"],
     "administrative reviews"),
    (re.compile(r"(?:发生|收到|办理|涉及)?(?:政府信息公开)?行政诉讼(?:案件)?(?:共)?" + _N),
     ["appeals.litigation_direct.total", "appeals.litigation_after_review.total"], "lawsuits"),
)


def text_totals(text: str, get: Getter) -> list[dict]:
    """R7: every total the prose states ("共收到政府信息公开申请N件", "行政复议N件") against the table.

    A received-applications figure may include the carry-over (some reports count both), so
    either new or new + carried over matches; the detail says what the text said."""
    out = []
    for pattern, keys, what in _STATED:
        table = _sum(get, keys)
        if table is None:
            continue
        for match in pattern.finditer(text or ""):
            stated = float(match.group(1))
            allowed = {table}
            if keys == ["applications.new.total"] and get("applications.carried_over.total") is not None:
                allowed.add(table + get("applications.carried_over.total"))
            found = table if stated not in allowed else stated
            out.append({"rule": "R7-text-total", "ok": stated in allowed, "cells": list(keys), "expected": stated,
                        "found": found, "detail": f"{what}: the text says {match.group(0)!r}, the table "
                                                  f"{' + '.join(keys)} = {_fmt(table)}"})
    return out


# ---- R8, R9: two consecutive years of one agency ----------------------------------------------------------

_IN_FORCE_ROWS = ("rules", "normative_docs")


def cross_year(values: dict[str, float | None], previous: dict[str, float | None] | None, *, year: int | None,
               agency: str) -> list[dict]:
    """R8 and R9 between this report (``values``: key -> number) and the same agency's report of
    the year before (``previous``; None when the archive has none: both rules "not checked").

    R8 (2021 form, per row of the active-disclosure table): 现行有效件数 this year = last year's
    + 本年制发 - 本年废止. R9 (per applicant column): 结转下年度继续办理 last year = 上年结转 this year.
    """
    if previous is None:
        why = f"not checked: no {year - 1 if year else 'previous-year'} report of {agency or 'this agency'} in the archive"
        return [_not_checked(rule, why) for rule in ("R8-year-in-force", "R9-year-carried")]
    out = []
    for row in _IN_FORCE_ROWS:
        keys = {c: f"active.{row}.{c}" for c in ("in_force", "issued", "repealed")}
        now, before = {c: values.get(k) for c, k in keys.items()}, previous.get(keys["in_force"])
        if None in now.values() or before is None:
            continue
        expected = before + now["issued"] - now["repealed"]
        out.append(_result("R8-year-in-force", list(keys.values()), expected, now["in_force"],
                           f"{row}: {year - 1} 现行有效 {_fmt(before)} + 本年制发 {_fmt(now['issued'])} - 本年废止 "
                           f"{_fmt(now['repealed'])} vs 现行有效"))
    for col in APPLICANTS:
        carried, got = previous.get(f"applications.carried_forward.{col}"), values.get(f"applications.carried_over.{col}")
        if carried is not None and got is not None:
            out.append(_result("R9-year-carried", [f"applications.carried_over.{col}"], carried, got,
                               f"column {col}: {year - 1} 结转下年度继续办理 vs this year's 上年结转"))
    if not any(c["rule"] == "R8-year-in-force" for c in out):
        out.append(_not_checked("R8-year-in-force", "not checked: 现行有效件数 not printed in both years (2019 form?)"))
    if not any(c["rule"] == "R9-year-carried" for c in out):
        out.append(_not_checked("R9-year-carried", "not checked: carried-over cells missing in one of the years"))
    return out


def _not_checked(rule: str, detail: str) -> dict:
    return {"rule": rule, "ok": None, "detail": detail, "cells": [], "expected": None, "found": None}
