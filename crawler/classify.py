"""Is this title an OGI annual report, and for which body and year?

Titles are the only signal that is both cheap and reliable: portals file 法治政府建设年度报告,
budgets and 政务公开工作要点 in the same columns as the annual reports, and a listing
entry's title is all the crawler sees before fetching. A report title names the OGI work
(政府信息公开 / 信息公开 / 政务公开) and a year; anything that is *about* a report
(a correction, an interpretation, the template notice) is not the report itself.
"""
from __future__ import annotations

import re

from domain.chinese import normalize_label

_CN_DIGITS = str.maketrans("〇○零一二三四五六七八九", "00012345678" + "9")
_CN_YEAR = re.compile(r"[〇○零一二三四五六七八九]{4}(?=年)")
_YEAR = re.compile(r"((?:19|20)\d{2})(?:年|年度)")
_REPORT = re.compile(r"(?:信息|政务)公开(?:工作)?(?:年度)?(?:报告|年报|年度报告)|(?:信息|政务)公开.{0,8}年度报告")
_NOT_REPORT = (
    "法治政府", "法治建设", "预算", "决算", "政府工作报告", "工作要点", "要点", "更正", "勘误", "说明",
    "格式", "通知", "解读", "图解", "测评", "考核", "评估", "征集", "意见", "目录", "指南", "统计公报",
    "报表", "发布会", "问答", "培训",
)
_LOOSE = re.compile(r"(?:信息|政务)公开")
_AGENCY_CUT = re.compile(r"(?:关于)?(?:\d{4}年度?|[〇○零一二三四五六七八九]{4}年度?)|(?:政府)?(?:信息|政务)公开.*$")


def _clean(title: str) -> str:
    return normalize_label(title or "")


def report_year(title: str) -> int | None:
    """The year a report covers, from its title (``二〇二〇年`` counts too)."""
    text = _CN_YEAR.sub(lambda m: m.group(0).translate(_CN_DIGITS), _clean(title))
    m = _YEAR.search(text)
    return int(m.group(1)) if m else None


def is_report_title(title: str) -> bool:
    """True for the title of an OGI annual report: names OGI work, a year, and is not about one."""
    text = _clean(title)
    if not _REPORT.search(text) or report_year(text) is None:
        return False
    return not any(word in text for word in _NOT_REPORT)


def maybe_report_title(title: str) -> bool:
    """A looser test for link text that may be truncated (``…2020年度政府信息公开工…``)."""
    text = _clean(title)
    if is_report_title(text):
        return True
    truncated = text.endswith(("...", "…", "..")) or len(text) >= 12
    return bool(truncated and _LOOSE.search(text) and report_year(text) and not any(w in text for w in _NOT_REPORT))


def template_for(year: int | None) -> str:
    """The statistics template a year's report uses: ``legacy`` before the 2019 regulation."""
    if year is None:
        return ""
    if year < 2019:
        return "legacy"
    return "2019" if year < 2021 else "2021"


def agency_from_title(title: str) -> str:
    """The publishing body as the title names it (``太平镇人民政府2020年…`` -> ``太平镇人民政府``)."""
    text = _AGENCY_CUT.sub("", _clean(title))
    return text.strip("-_:：,，()（）《》<>[]【】") if len(text) <= 60 else ""


def clean_page_title(title: str) -> str:
    """A page ``<title>`` without the site name portals append (``标题_某某县人民政府``)."""
    title = (title or "").strip()
    for sep in ("_", " - ", "--", "|", "－"):
        head = title.split(sep)[0].strip()
        if head and head != title:
            return head
    return title
