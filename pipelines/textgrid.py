"""Turning a table printed as text back into a stream of cells.

Tables reach us as text in four layouts, often mixed in one document:

* one cell per line, each starting with a tab, a blank line between rows (DOCX saved as
  text, see ``shared/corpus/seeds``); a line *without* the leading tab continues the cell
  above, because Word wraps long labels (``本年新\\n制作数量``);
* tab-separated rows, one row per line (our own loaders write tables into text that way);
* columns aligned with runs of spaces (``pdftotext -layout``, PDF text layers);
* run-on text where the cell boundaries were lost (``规章000规范性文件898989``), as
  crawlers' "page.txt" dumps have it. Digits there are one token per run; how a run splits
  into numbers is decided later (:mod:`pipelines.stat_tables`) and only when the split is forced.

The output is a flat list of :class:`TextCell` in reading order. Row boundaries are not
kept: the table parser anchors on row labels, so it does not need them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from pipelines.values import is_null_token, looks_numeric

_CJK = r"\u4e00-\u9fff"
_PAGE_NUMBER = re.compile(r"^\s*(?:[-—–]\s*\d{1,3}\s*[-—–]|第\s*\d+\s*页(?:\s*共\s*\d+\s*页)?|\d+\s*/\s*\d+)\s*$")
_GLUED_ZEROS = re.compile(r"^0\d+$")
_SPACES = re.compile(r"[ \u00a0\u3000]{2,}")
# A digit glued to a CJK label on both sides is how run-on tables look; prose has a few of
# these too ("共公布2599条"), tables have dozens on one line.
_GLUED = re.compile(rf"[{_CJK}）)”][\d][\d .,]*[{_CJK}（(“]")
_RUNON_MIN_GLUES = 12
# A run of digits (with the spaces/commas/points between them) and an optional money unit.
_DIGIT_RUN = re.compile(r"[+-]?\d[\d .,\u00a0]*(?:万元|亿元|元)?")
_NUMBERING_AFTER = re.compile(rf"^[.、．]\s*[{_CJK}“]")
# Digits that are part of a label: dates, article and document numbers.
_LABEL_DIGITS_BEFORE = re.compile(r"^[年月日号条款期]")


@dataclass(frozen=True)
class TextCell:
    """One cell read from text; ``runon`` marks a digit run whose cell boundaries are lost."""

    text: str
    runon: bool = False


def text_cells(text: str) -> list[TextCell]:
    """All cells of ``text`` in reading order (labels and values alike)."""
    cells: list[TextCell] = []
    current: list[str] | None = None  # the open one-cell-per-line cell, for continuation lines

    def flush() -> None:
        nonlocal current
        if current is not None:
            cells.extend(_split_tokens(" ".join(current)))
            current = None

    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line.strip() or _PAGE_NUMBER.match(line):
            flush()
            continue
        if "\t" in line.lstrip("\t"):
            flush()
            cells.extend(_line_cells(line.split("\t")))
        elif line.startswith("\t"):
            flush()
            current = [line[1:]]
        elif current is not None:
            current[-1] += line.strip()  # a wrapped label: "本年新" + "制作数量"
        elif is_runon(line):
            cells.extend(runon_cells(line))
        else:
            cells.extend(_line_cells(_SPACES.split(line)))
    flush()
    return [c for c in cells if c.text]


def is_runon(line: str) -> bool:
    """True for a long line where table cells were glued together without separators."""
    return len(_GLUED.findall(line)) >= _RUNON_MIN_GLUES


def _split_tokens(part: str) -> list[TextCell]:
    """Split one cell on single spaces when that separates numbers (``21 0 0 0``, ``行政许可 447228``).

    Consecutive non-numeric words stay one label; each numeric word is its own value.
    """
    part = part.strip(" \t\u00a0\u3000")
    if not part:
        return []
    words = part.split()
    if len(words) == 1:
        return [_value_or_label(part)]
    out: list[TextCell] = []
    label: list[str] = []
    for word in words:
        if looks_numeric(word):
            if label:
                out.append(TextCell(" ".join(label)))
                label = []
            out.append(_value_or_label(word))
        else:
            label.append(word)
    if label:
        out.append(TextCell(" ".join(label)))
    return out


def _value_or_label(word: str) -> TextCell:
    """``0000`` is no number anyone prints: it is cells whose separators were lost (OCR, PDF)."""
    return TextCell(word, runon=bool(_GLUED_ZEROS.match(word)))


def _line_cells(parts: list[str]) -> list[TextCell]:
    """Cells of one printed row. Numbers *before* the row's label belong to that label
    (an OCR'd ``（一）`` read as ``0 -)``): a row's values are printed after its label."""
    cells = [c for part in parts for c in _split_tokens(part)]
    first_label = next((i for i, c in enumerate(cells) if not _is_value(c)), None)
    if first_label and any(_is_value(c) for c in cells[first_label + 1:]):
        merged = " ".join(c.text for c in cells[: first_label + 1])
        cells = [TextCell(merged)] + cells[first_label + 1:]
    return _absorb_dashes(cells)


def _absorb_dashes(cells: list[TextCell]) -> list[TextCell]:
    """A lone ``-``/``—`` between two label words is punctuation (OCR), not an empty cell."""
    out: list[TextCell] = []
    glue = False
    for i, cell in enumerate(cells):
        between = 0 < i < len(cells) - 1 and not _is_value(cells[i - 1]) and not _is_value(cells[i + 1])
        if (between and is_null_token(cell.text)) or (glue and not _is_value(cell)):
            out[-1] = TextCell(out[-1].text + cell.text)
            glue = not glue
        else:
            out.append(cell)
            glue = False
    return out


def _is_value(cell: TextCell) -> bool:
    return cell.runon or looks_numeric(cell.text)


def runon_cells(line: str) -> list[TextCell]:
    """Cut a run-on line into label cells and digit-run cells.

    The numbering of the next label sticks to the digits before it (``00000002.其他法律``):
    a last digit followed by ``.``/``、`` and a Chinese character is the label's number.
    """
    cells: list[TextCell] = []
    pos = 0
    for match in _DIGIT_RUN.finditer(line):
        start, end = match.start(), match.end()
        if start < pos:
            continue
        run = match.group()
        rest = line[end:]
        if run.endswith((".", "．")) and re.match(rf"[{_CJK}“]", rest):
            run, end = run[:-1], end - 1
            rest = line[end:]
        if _LABEL_DIGITS_BEFORE.match(rest):
            continue
        if _NUMBERING_AFTER.match(rest):
            digits = run.rstrip()
            run, end = digits[:-1], start + len(digits) - 1
        label = line[pos:start].strip()
        if label:
            cells.append(TextCell(label))
        if run.strip(" .,\u00a0"):
            cells.append(TextCell(run.strip(" \u00a0"), runon=True))
        pos = end
    tail = line[pos:].strip()
    if tail:
        cells.append(TextCell(tail))
    return _merge_labels(cells)


def _merge_labels(cells: list[TextCell]) -> list[TextCell]:
    """Rejoin label pieces split around a digit that belongs to the label (``三安全一稳定`` has none, ``第711号`` does)."""
    out: list[TextCell] = []
    for cell in cells:
        if out and not cell.runon and not out[-1].runon:
            out[-1] = TextCell(out[-1].text + cell.text)
        else:
            out.append(cell)
    return out
