"""The six parts of a report (总体情况 … 其他需要报告的事项), found by their headings.

Headings are recognised by wording, never by numbering alone: table rows such as
``四、结转下年度继续办理`` carry the same ``四、`` as the appeals heading. Wording varies
(``主动公开信息情况``, ``因政府信息公开工作被申请行政复议、提起行政诉讼情况``,
``存在的主要问题及改进措施``) and numbering is often missing, so every place a heading's
wording occurs is a *candidate* with a score, and the chosen headings are the best-scoring
set that keeps the six parts in their printed order.

Two traps shape the scoring:

* the table-of-contents sentence many reports open with (``本报告包括总体情况、主动公开政府
  信息情况、…和其他需要报告的事项等六个部分``) names every heading inline. A candidate directly
  chained to another heading by ``、；，和及`` is a *list mention* and is never a heading;
* the 2019 template's overview has sub-parts ``（一）主动公开`` / ``（二）依申请公开``; a
  parenthesised ordinal marks a sub-heading, which scores below a real one.

Text converted from PDFs or flattened web pages has no line breaks around headings
(``…gkb@163.com。一、总体情况2019年，…``), so a heading may also start after a sentence end.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from domain.schema import SECTIONS

logger = logging.getLogger(__name__)

#: Wording of each section's heading, best first: (regex, score). Scores say how sure the
#: wording alone makes us; position and numbering add to it (see ``_score``).
HEADING_PATTERNS: dict[str, tuple[tuple[str, int], ...]] = {
    "overview": (
        (r"总体情况", 3),
        (r"(?:基本|工作)?概况|概述|基本情况", 1),
    ),
    "active": (
        (r"主动公开政府信息(?:的)?情况", 3),
        (r"主动公开(?:政府)?信息(?:的)?(?:工作)?情况|主动公开(?:工作)?情况", 2),
    ),
    "applications": (
        (r"收到和处理政府信息公开申请(?:的)?情况", 3),
        (r"(?:收到|受理)(?:和|及|与)?(?:处理|办理)(?:政府)?信息公开申请(?:的)?情况|依申请公开(?:政府)?信息(?:的)?(?:工作)?情况", 2),  # noqa: E501 - one alternation, read as written
    ),
    "appeals": (
        (r"政府信息公开(?:工作)?(?:被申请)?行政复议[、和及与,，]?(?:提起)?行政诉讼(?:的)?情况", 3),
        (r"因政府信息公开(?:工作|申请)?(?:而)?(?:被)?(?:申请)?行政复议[、和及与,，]?(?:被)?(?:提起)?行政诉讼(?:的)?情况", 3),
        (r"(?:被申请)?行政复议[、和及与,，]?(?:提起)?行政诉讼(?:的)?情况", 2),
    ),
    "problems": (
        (r"(?:政府信息公开)?(?:工作)?存在的主要问题(?:及|和|与)改进(?:情况|措施)", 3),
        (r"(?:工作中)?存在(?:的)?(?:主要)?(?:问题|不足)(?:及|和|与)(?:改进|整改)(?:情况|措施|方向)?", 2),
    ),
    "other": (
        (r"其他需要报告的事项", 3),
        (r"其他(?:需要)?(?:报告|说明)的?(?:事项|情况)", 2),
    ),
}

_CN_ORDINALS = "一二三四五六七八九十"
# Numbering that may precede a heading: 一、 一. （一） (一) 1、 1. 第一部分 第一
_NUMBERING = re.compile(
    r"(?:(?P<cn>[一二三四五六七八九十])\s*[、.．，,:：\s]"
    r"|[（(]\s*(?P<paren>[一二三四五六七八九十\d])\s*[）)]"
    r"|(?P<arabic>\d{1,2})\s*[、.．]"
    r"|第(?P<part>[一二三四五六七八九十])(?:部分|章|节)?\s*[、.．:：]?)\s*$"
)
# What may sit between two items of a table-of-contents sentence.
# A line break is not among them: headings on consecutive lines are an empty section.
_LIST_GAP = re.compile(r"^[ \t\u3000、；;，,和及与以“”\"'《》]*(?:[（(]?[一二三四五六七八九十\d][）)]?[、.．]?)?[ \t\u3000、；;，,和及与以“”]*$")  # noqa: E501 - one pattern, read as written
_LIST_WINDOW = 12
_SENTENCE_END = "。！？；;：:!?」』”）)"
#: Below this a candidate is not a heading at all, even if no better one exists: e.g. an
#: overview sub-part ``（一）主动公开情况`` (2 + -3 + 2) must not stand in for a missing part 二.
_MIN_SCORE = 2


@dataclass(frozen=True)
class Heading:
    """One section heading as found: where it starts and ends (numbering included) and why."""

    section: str
    start: int  # first character of the heading line (its numbering, if any)
    end: int  # first character after the heading wording
    text: str
    score: int


@dataclass(frozen=True)
class _Match:
    section: str
    start: int
    end: int
    base: int


def _wording_matches(text: str) -> list[_Match]:
    """Every occurrence of any section's heading wording (the best pattern wins per place)."""
    found: dict[tuple[str, int], _Match] = {}
    for section, patterns in HEADING_PATTERNS.items():
        for pattern, base in patterns:
            for m in re.finditer(pattern, text):
                key = (section, m.start())
                if key not in found or found[key].base < base:
                    found[key] = _Match(section, m.start(), m.end(), base)
    return sorted(found.values(), key=lambda m: (m.start, -m.base))


def _list_mentions(matches: list[_Match], text: str) -> set[int]:
    """Indexes of matches chained to another section's wording by list punctuation (a TOC)."""
    chained: set[int] = set()
    for i, first in enumerate(matches):
        for j in range(i + 1, len(matches)):
            second = matches[j]
            if second.start - first.end > _LIST_WINDOW:
                break
            if second.section != first.section and second.start >= first.end and _LIST_GAP.match(text[first.end:second.start]):
                chained.update((i, j))
    return chained


def _ordinal(numbering: re.Match[str]) -> tuple[str, int | None]:
    """('top' | 'sub' | 'arabic', the number) of a numbering match."""
    if numbering.group("cn") or numbering.group("part"):
        return "top", _CN_ORDINALS.index(numbering.group("cn") or numbering.group("part")) + 1
    if numbering.group("paren"):
        return "sub", None
    return "arabic", int(numbering.group("arabic"))


def _score(match: _Match, text: str) -> tuple[int, int] | None:
    """(score, heading start) for a candidate, or None when it cannot be a heading.

    A heading starts a line, or follows a sentence end in text without line breaks; a
    mention inside a sentence is not a heading.
    """
    line_start = text.rfind("\n", 0, match.start) + 1
    before = text[line_start:match.start]
    expected = SECTIONS.index(match.section) + 1
    score, start = match.base, match.start
    numbering = _NUMBERING.search(before[-8:])
    if numbering:
        kind, number = _ordinal(numbering)
        start = match.start - (len(before[-8:]) - numbering.start())
        if kind == "top":
            score += 3 if number == expected else 1
        elif kind == "arabic":
            score += 1 if number == expected else 0
        else:
            score -= 3
    prefix = text[line_start:start]
    if not prefix.strip():
        score += 2
    elif prefix.rstrip()[-1:] in _SENTENCE_END or prefix.endswith((" ", "\u3000", "\t")):
        # flattened text: a heading right after a sentence end (numbered ones are likelier)
        score += 0 if numbering else -1
    elif not (numbering and numbering.group("cn")):
        # wording inside a sentence is a mention, not a heading; only a numbered heading
        # may follow a table cell directly (``…561342.67元三、收到和处理…``)
        return None
    return score, start


def find_headings(text: str) -> list[Heading]:
    """The chosen heading of each section found, in text order (missing sections are absent).

    Dynamic programming over candidates sorted by position: the best total score such
    that section order is respected; ties prefer the earlier candidate.
    """
    matches = _wording_matches(text)
    chained = _list_mentions(matches, text)
    candidates: list[tuple[int, int, _Match]] = []  # (start, score, match)
    for i, match in enumerate(matches):
        if i in chained:
            continue
        scored = _score(match, text)
        if scored is not None and scored[0] >= _MIN_SCORE:
            candidates.append((scored[1], scored[0], match))
    return _best_sequence(candidates, text)


def _best_sequence(candidates: list[tuple[int, int, _Match]], text: str) -> list[Heading]:
    """Best-scoring choice of at most one candidate per section, in section and text order."""
    # best[i] = (total score, chosen headings) using sections[:i]; state also tracks the last end
    states: list[tuple[int, int, tuple[Heading, ...]]] = [(0, -1, ())]  # (score, last end, chosen)
    for section in SECTIONS:
        options = [c for c in candidates if c[2].section == section]
        new_states = list(states)  # skipping this section keeps every state
        for total, last_end, chosen in states:
            for start, score, match in options:
                if start >= last_end:
                    heading = Heading(section, start, match.end, text[start:match.end], score)
                    new_states.append((total + score, match.end, chosen + (heading,)))
        states = _prune(new_states)
    return list(max(states, key=lambda s: (s[0], -s[1]))[2])


def _prune(states: list[tuple[int, int, tuple[Heading, ...]]]) -> list[tuple[int, int, tuple[Heading, ...]]]:
    """Keep only states not dominated (a higher score with an earlier end is always better)."""
    states.sort(key=lambda s: (s[1], -s[0]))
    kept: list[tuple[int, int, tuple[Heading, ...]]] = []
    best = None
    for state in states:
        if best is None or state[0] > best:
            kept.append(state)
            best = state[0]
    return kept


def split_sections(text: str) -> dict[str, str]:
    """``{section key: its text}`` for every section found; a section runs to the next heading.

    The heading itself is not part of the section text. Sections whose heading was not
    found are absent (callers record that as a warning rather than guessing).
    """
    headings = find_headings(text)
    sections: dict[str, str] = {}
    for heading, nxt in zip(headings, headings[1:] + [None], strict=False):
        body = text[heading.end: nxt.start if nxt else len(text)]
        sections[heading.section] = body.strip()
    logger.debug("sections found: %s", [h.text for h in headings])
    return sections
