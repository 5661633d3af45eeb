"""Splitting digit runs whose cell boundaries were lost (``230 000023`` -> 23 0 0 0 0 0 23).

Run-on text keeps the digits of a table row but not where one cell ends. A run can be cut
into numbers in many ways; we accept a cut only when it is *forced*: exactly one cut gives
the expected number of cells (no leading zeros, decimals kept whole) and satisfies the
row's own arithmetic (the row total for part 三, the four-plus-total groups for part 四).
Spaces that survived in the run are treated as cell boundaries. Several valid cuts mean
the row is ambiguous and its cells stay null — a wrong number is worse than no number.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

#: Search steps allowed per run; past that the row is reported as not splittable.
MAX_STEPS = 10_000
_UNIT = re.compile(r"(万元|亿元|元)$")


def split_run(
    chunks: list[str], count: int, valid: Callable[[list[float]], bool] | None = None, *, limit: int = 2
) -> list[list[str]]:
    """Up to ``limit`` ways to cut ``chunks`` into ``count`` numbers passing ``valid``.

    Returns the cuts as lists of raw strings; exactly one cut means the split is forced,
    none or two mean it is not (also when the search was too long to prove it).
    """
    unit = ""
    if chunks and (m := _UNIT.search(chunks[-1])):
        unit = m.group(1)
        chunks = chunks[:-1] + [chunks[-1][: m.start()]]
    chunks = [c.replace(",", "") for c in chunks if c.replace(",", "")]
    search = _Search("".join(chunks), _boundaries(chunks), count, valid, limit)
    search.run(0, [])
    if search.steps > MAX_STEPS:
        return []
    return [cut[:-1] + [cut[-1] + unit] for cut in search.solutions] if unit else search.solutions


def _boundaries(chunks: list[str]) -> set[int]:
    """Positions in the joined run where a surviving space forces a cut."""
    out, pos = set(), 0
    for chunk in chunks[:-1]:
        pos += len(chunk)
        out.add(pos)
    return out


class _Search:
    """Depth-first search over cut points, bounded in steps."""

    def __init__(self, text: str, bounds: set[int], count: int, valid: Any, limit: int) -> None:
        self.text, self.bounds, self.count, self.valid, self.limit = text, bounds, count, valid, limit
        self.solutions: list[list[str]] = []
        self.steps = 0

    def run(self, pos: int, parts: list[str]) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS or len(self.solutions) >= self.limit:
            return
        if len(parts) == self.count:
            if pos == len(self.text) and (self.valid is None or self.valid([float(p) for p in parts])):
                self.solutions.append(list(parts))
            return
        if len(self.text) - pos < self.count - len(parts):
            return
        for end in range(pos + 1, len(self.text) + 1):
            piece = self.text[pos:end]
            if _well_formed(piece):
                parts.append(piece)
                self.run(end, parts)
                parts.pop()
            if end in self.bounds:
                break  # a piece never crosses a surviving space


def _well_formed(number: str) -> bool:
    """A number as a clerk types it: no leading zeros, a decimal point only between digits."""
    if number[:1] in "+-":
        number = number[1:]
    if not number or number.startswith(".") or number.endswith(".") or not number[0].isdigit():
        return False
    if number.count(".") > 1:
        return False
    integer = number.split(".")[0]
    return integer == "0" or not integer.startswith("0")


def row_total_valid(numbers: list[float]) -> bool:
    """Applications row: the six applicant columns add up to the total (R2)."""
    return abs(sum(numbers[:-1]) - numbers[-1]) < 1e-6


def appeal_groups_valid(numbers: list[float]) -> bool:
    """Appeals row: in each of the three groups, the four outcomes add up to the total (R4)."""
    return all(abs(sum(numbers[i : i + 4]) - numbers[i + 4]) < 1e-6 for i in range(0, 15, 5))
