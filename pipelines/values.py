"""Reading one table cell: the number a clerk meant, the unit, and the text as printed.

Cells arrive as ``0``, `` 0`` with a non-breaking space, full-width ``１２``, ``1,234``,
``减少2``, ``-2``, ``发包价561342.67元``, ``3.5万元``, ``/``, ``—`` or nothing at all.
:func:`parse_cell` turns any of them into a :class:`Parsed` value without ever guessing:
a cell holding two different numbers (``12（其中3件）``) is *unreadable* (value None) rather
than silently reduced to one of them, and the raw text is always kept for the researcher.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

#: Cells that mean "nothing to report"; the value is null, the raw text is kept.
NULL_TOKENS = frozenset({"", "/", "\\", "-", "--", "---", "—", "——", "–", "无", "空", "/无", "n/a", "N/A", "×"})
#: Units converted to yuan; other units (件, 条, 项, 个) are dropped, they carry no scale.
YUAN_FACTORS = {"元": 1.0, "万元": 1e4, "亿元": 1e8, "千元": 1e3}
_COUNT_UNITS = ("件", "条", "项", "个", "次", "宗", "起", "人")

_NUMBER = re.compile(r"(?<![\d.])[-+]?\d+(?:,\d{3})*(?:\.\d+)?")
_UNIT_AFTER = re.compile(r"\s*(亿元|万元|千元|元)")
_WRAPPED_DIGITS = re.compile(r"(?<=\d)[ \t]*\n\s*(?=\d)")
_DECREASE = re.compile(r"(减少|减|下降|降低)\s*$")
_INCREASE = re.compile(r"(增加|增|新增|上升)\s*$")


@dataclass(frozen=True)
class Parsed:
    """One cell read: ``value`` is None for empty/placeholder/unreadable cells."""

    value: float | None
    unit: str = ""
    readable: bool = True  # False: text that is neither a number nor a placeholder


def clean(raw: str) -> str:
    """NFKC (full-width digits and commas become ASCII) and trimmed, incl. non-breaking spaces."""
    text = unicodedata.normalize("NFKC", raw or "")
    text = _WRAPPED_DIGITS.sub("", text)  # "17\n8" in a narrow PDF cell is 178
    return text.replace("\u3000", " ").strip()


@functools.lru_cache(maxsize=4096)
def is_null_token(raw: str) -> bool:
    """True for the placeholders that mean "nothing to report"."""
    text = clean(raw).replace(" ", "")
    return text in NULL_TOKENS or (len(text) > 1 and set(text) <= {"-", "—", "/", "–"})


@functools.lru_cache(maxsize=4096)
def parse_cell(raw: str) -> Parsed:
    """Read one cell; see the module docstring for what is accepted."""
    text = clean(raw)
    if is_null_token(text):
        return Parsed(None)
    compact = text.replace(" ", "").replace("，", ",")
    numbers = list(_NUMBER.finditer(compact))
    if len(numbers) != 1:
        return Parsed(None, readable=False)
    match = numbers[0]
    value = float(match.group().replace(",", ""))
    before, after = compact[: match.start()], compact[match.end():]
    if _DECREASE.search(before) and value > 0:
        value = -value
    elif before and not (_INCREASE.search(before) or _is_label_prefix(before)):
        return Parsed(None, readable=False)
    unit_match = _UNIT_AFTER.match(after)
    unit = unit_match.group(1) if unit_match else ""
    rest = after[unit_match.end():] if unit_match else after
    if rest and rest not in _COUNT_UNITS and not rest.startswith(("（", "(")):
        return Parsed(None, readable=False)
    return Parsed(value, unit=unit)


def _is_label_prefix(before: str) -> bool:
    """A short word before an amount (``发包价``, ``约``, ``共``) names it; it is not a second number."""
    return len(before) <= 6 and bool(re.fullmatch(r"[\u4e00-\u9fff]+[:：]?", before))


def to_yuan(value: float | None, unit: str) -> float | None:
    """The amount in yuan when the unit is known, else None."""
    if value is None or unit not in YUAN_FACTORS:
        return None
    return round(value * YUAN_FACTORS[unit], 2)


@functools.lru_cache(maxsize=4096)
def looks_numeric(raw: str) -> bool:
    """A cell that is a value (number or placeholder), not a label: used to split rows into label and values."""
    text = clean(raw)
    if is_null_token(text):
        return True
    parsed = parse_cell(text)
    return parsed.value is not None and not re.search(r"[\u4e00-\u9fff]{7,}", text)


def cell_record(raw: str, *, default_unit: str = "", ocr: bool = False) -> dict:
    """The record stored per canonical key: {"value","raw","unit","derived","ocr"}; an OCR'd cell
    also has "confidence", the OCR engine's (0-100) for the cell when it was read on its own
    (:class:`pipelines.scan_tables.OcrText`), else None (read from the page's OCR text)."""
    parsed = parse_cell(raw)
    record = {
        "value": parsed.value,
        "raw": raw.strip() if raw else "",
        "unit": parsed.unit or (default_unit if parsed.value is not None else ""),
        "derived": False,
        "ocr": ocr,
    }
    if ocr:
        record["confidence"] = getattr(raw, "confidence", None)
    return record


def derived_record(value: float | None, *, unit: str = "", raw: str = "", ocr: bool = False) -> dict:
    """A value computed from other cells (e.g. 2021 ``result.other`` = sum of its three sub-rows)."""
    return {"value": value, "raw": raw, "unit": unit, "derived": True, "ocr": ocr}
