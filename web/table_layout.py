"""The three statistics tables laid out as the national templates print them.

Row and column labels come from ``domain.schema``; each cell carries the number, the text as
printed and the failed rules (R1-R5) whose ``cells`` name it, so the report page can flag
the cell and explain why. Legacy (pre-2019) reports have no fixed table: they get none.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from domain.schema import ACTIVE_2019, ACTIVE_2021, APPEAL_GROUPS, APPEAL_OUTCOMES, APPLICANT_COLUMNS, APPLICATION_ROWS


@dataclass
class Cell:
    key: str
    value: float | None = None
    raw: str = ""
    found: bool = False
    flags: list[str] = field(default_factory=list)  # "R1-balance: detail" of failed rules naming this cell

    @property
    def shown(self) -> str:
        """The text as printed; for a derived or raw-less value, the number."""
        if self.raw:
            return self.raw
        if self.value is None:
            return ""
        return f"{self.value:g}"


@dataclass
class Block:
    """Rows sharing one header (the national tables are made of such blocks)."""

    header: list[list[tuple[str, int, int]]]  # header rows of (label, colspan, rowspan)
    rows: list[tuple[str, list[Cell]]]


@dataclass
class Table:
    title: str
    blocks: list[Block]


def _cells(keys: list[str], values: dict[str, Any], flags: dict[str, list[str]]) -> list[Cell]:
    out = []
    for key in keys:
        v = values.get(key)
        out.append(Cell(key, getattr(v, "value", None), getattr(v, "raw", "") or "", v is not None, flags.get(key, [])))
    return out


def _active(template: str, values: dict[str, Any], flags: dict[str, list[str]]) -> Table:
    items = ACTIVE_2019 if template == "2019" else ACTIVE_2021
    blocks: list[Block] = []
    for item, label, cols in items:
        if not blocks or blocks[-1].header[0][1:] != [(c_label, 1, 1) for _, c_label in cols]:
            blocks.append(Block([[("信息内容", 1, 1)] + [(c_label, 1, 1) for _, c_label in cols]], []))
        blocks[-1].rows.append((label, _cells([f"active.{item}.{c}" for c, _ in cols], values, flags)))
    return Table("二、主动公开政府信息情况", blocks)


def _applications(template: str, values: dict[str, Any], flags: dict[str, list[str]]) -> Table:
    header = [
        [("申请人情况", 1, 2), (APPLICANT_COLUMNS[0][1], 1, 2), ("法人或其他组织", 5, 1), (APPLICANT_COLUMNS[-1][1], 1, 2)],
        [(label, 1, 1) for _, label in APPLICANT_COLUMNS[1:-1]],
    ]
    rows = [
        (label, _cells([f"applications.{row}.{col}" for col, _ in APPLICANT_COLUMNS], values, flags))
        for row, label, templates in APPLICATION_ROWS if template in templates
    ]
    return Table("三、收到和处理政府信息公开申请情况", [Block(header, rows)])


def _appeals(values: dict[str, Any], flags: dict[str, list[str]]) -> Table:
    outcomes = [(label, 1, 1) for _, label in APPEAL_OUTCOMES]
    header = [
        [(APPEAL_GROUPS[0][1], 5, 1), ("行政诉讼", 10, 1)],
        [(label, 1, 2) for label, _, _ in outcomes] + [("未经复议直接起诉", 5, 1), ("复议后起诉", 5, 1)],
        outcomes * 2,
    ]
    keys = [f"appeals.{g}.{o}" for g, _ in APPEAL_GROUPS for o, _ in APPEAL_OUTCOMES]
    return Table("四、政府信息公开行政复议、行政诉讼情况", [Block(header, [("", _cells(keys, values, flags))])])


def cell_flags(checks: list[Any]) -> dict[str, list[str]]:
    """canonical key -> explanations of the failed checks that name it."""
    out: dict[str, list[str]] = {}
    for check in checks:
        if check.ok is False:
            for key in check.cells or []:
                out.setdefault(str(key), []).append(f"{check.rule}: {check.detail}".rstrip(": "))
    return out


def layout(template: str, values: dict[str, Any], checks: list[Any]) -> list[Table]:
    """The report's tables; ``values`` maps canonical keys to ExtractedValue-like rows."""
    if template not in ("2019", "2021"):
        return []
    flags = cell_flags(checks)
    return [_active(template, values, flags), _applications(template, values, flags), _appeals(values, flags)]
