"""Who published a report, for which year, under which template, when, and where.

Every field is read from what the report itself says, in a fixed order of trust:

* ``agency``: the name in the title (``众兴镇2020年度政府信息公开工作年度报告`` -> 众兴镇),
  completed from the text when the report spells it out in full (``众兴镇`` + ``众兴镇人民政府``
  at the signature -> 众兴镇人民政府; ``太平镇人民政府`` + ``长春市双阳区太平镇人民政府积极实施…``
  -> 长春市双阳区太平镇人民政府). Addresses (``地址:寿县众兴镇人民政府一楼``) name a building,
  not the body, so they do not extend the name; they do refine the region.
* ``report_year``: the statistics period (``统计期限自2020年1月1日起至2020年12月31日止``),
  else the title. Never the publication year: a 2020 report is published in 2021.
* ``template``: from the year (2019-2020 -> ``2019``, 2021+ -> ``2021``, earlier ->
  ``legacy``); the extraction flow lets the table's column labels overrule it
  (:func:`reconcile_template`), since a report printed on the other form is read by its form.
* ``published_at``: the portal's ``<meta name="PubDate">``, else the crawler's hint, else
  a ``发布时间`` line at the top, else the date printed at the end of the report.
* ``region``: the source's configured ``省/市/县``, completed with the units the report names.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_CN_DIGITS = {"〇": 0, "零": 0, "○": 0, "Ｏ": 0, "O": 0, "０": 0, "一": 1, "二": 2, "三": 3, "四": 4,
              "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_YEAR = r"(?:(?:19|20)\d{2}|[二][〇零○Ｏ][一二三四五六七八九〇零○Ｏ]{2})"
_CN_NUM = r"[一二三四五六七八九十〇零]{1,3}"
_TITLE_YEAR = re.compile(rf"(?P<year>{_YEAR})\s*年\s*度?")
_TITLE_KEYWORD = re.compile(r"(?:政府信息公开|政务公开|信息公开)")
_TITLE_LABEL = re.compile(r"^(?:标题|题目|文章标题)\s*[:：]\s*")
_REPORT_WORD = re.compile(r"(?:报告|年报)")
#: An attachment's file name used as its title keeps its extension ("…年度报告.docx").
_FILE_EXTENSION = re.compile(r"\.(?:docx?|pdf|wps|et|html?|shtml|txt|md|ofd|xlsx?|rtf|zip|rar)$", re.IGNORECASE)
#: Markdown a converter puts around a title line: heading marks, emphasis, list/quote markers.
_MARKUP = re.compile(r"^\s*(?:#{1,6}\s*|>\s*|[-*+]\s+|\d+\.\s+)?|[*_]{1,3}|`|\s*#+\s*$")
#: Words a converter writes before the body ("正文", the site's "正文" tab, a page header).
_BODY_LABEL = re.compile(r"^(?:正文|全文|内容|附件\d*)\s*[:：]?\s*")
# 统计期限 / 统计时限 / 统计期间 … 自2020年1月1日(起)至2020年12月31日(止)
_STAT_PERIOD = re.compile(
    rf"统计(?:期限|时限|期间|时间|区间|周期)[^。；]{{0,12}}?(?P<y1>{_YEAR})\s*年\s*(?:1|一)\s*月\s*(?:1|一)\s*日"
    rf"[^。；]{{0,8}}?(?:至|到|-|—|～|~)\s*(?P<y2>{_YEAR})\s*年\s*(?:12|十二)\s*月\s*(?:31|三十一)\s*日"
)
_DATE = re.compile(
    rf"(?P<y>{_YEAR})\s*(?:年|[-/.])\s*(?P<m>\d{{1,2}}|{_CN_NUM})\s*(?:月|[-/.])\s*(?P<d>\d{{1,2}}|{_CN_NUM})(?:\s*日)?"
)
_PUBLISHED_LINE = re.compile(r"(?:发布(?:时间|日期)|成文日期|发文日期|时间)\s*[:：]\s*")
_PUBDATE_META = ("pubdate", "publishdate", "firstpublishedtime", "article:published_time", "dc.date.issued", "dc.date", "date")

# Administrative units, as they prefix a body's name: 长春市 双阳区 寿县 内蒙古自治区 …
_UNIT_SUFFIXES = ("特别行政区", "自治区", "自治州", "自治县", "自治旗", "地区", "省", "市", "区", "县", "旗", "盟")
_UNIT = re.compile(r"[\u4e00-\u9fff]{1,7}?(?:" + "|".join(_UNIT_SUFFIXES) + ")")
_NOT_PLACE = ("政府", "人民", "办公", "委员", "管理", "工作", "公开", "报告", "机关", "部门")
# Characters that end a place name when reading leftwards (grammar words, not names).
_NAME_STOP = set("由与在是及的对向为请经我该并按据其至照年月各市区县省旗盟")
_PLACE_BODY = re.compile(r"(?:镇|乡|街道|区|县|市|省|旗|盟|自治州|自治区)$")
_ADDRESS_CONTEXT = re.compile(r"(?:地址|地点|位于|住所|坐落)\s*[:：]?\s*[\u4e00-\u9fff]{0,3}$")
_MUNICIPALITIES = ("北京市", "天津市", "上海市", "重庆市")
_BODY_SUFFIX = re.compile(r"(?:人民政府|政府|办公室|办公厅|局|委员会|委|办|中心|院|署|管委会|办事处|厅|部|所|队|站)$")


@dataclass
class Metadata:
    """The report's metadata fields plus what went wrong finding them."""

    title: str = ""
    agency: str | None = None
    region: str = ""
    report_year: int | None = None
    template: str = ""
    published_at: str | None = None
    warnings: list[str] = field(default_factory=list)


# ---- numbers and dates ---------------------------------------------------------------------

def _year(text: str) -> int:
    """A year written in digits or Chinese numerals (``二〇二〇``)."""
    text = text.strip()
    if text.isdigit() and text.isascii():
        return int(text)
    return int("".join(str(_CN_DIGITS[ch]) for ch in text))


def _small_number(text: str) -> int:
    """A month or day in digits or Chinese numerals (``十二``, ``二十一``, ``三十``)."""
    if text.isdigit():
        return int(text)
    if "十" in text:
        tens, _, units = text.partition("十")
        return (_CN_DIGITS.get(tens, 1) if tens else 1) * 10 + (_CN_DIGITS.get(units, 0) if units else 0)
    return _CN_DIGITS.get(text, 0)


def parse_date(text: str) -> str | None:
    """The first date in ``text`` as ISO ``YYYY-MM-DD`` (``2021年1月20日``, ``2021-01-20 09:30``), else None."""
    for m in _DATE.finditer(text or ""):
        iso = _iso(m)
        if iso:
            return iso
    return None


def _iso(m: re.Match[str]) -> str | None:
    year, month, day = _year(m.group("y")), _small_number(m.group("m")), _small_number(m.group("d"))
    if 1 <= month <= 12 and 1 <= day <= 31 and 1990 <= year <= 2100:
        return f"{year:04d}-{month:02d}-{day:02d}"
    return None


# ---- title -----------------------------------------------------------------------------------

def _clean_agency(name: str) -> str | None:
    name = re.sub(r"^[\s:：,，、【\[（(]+|[\s:：,，、】\]（()）]+$", "", name)
    name = re.sub(r"(?:关于|的|年度|度)$", "", name)
    name = re.sub(r"^(?:关于)", "", name)
    return name if len(name) >= 2 and not _TITLE_KEYWORD.search(name) else None


def parse_title(title: str) -> tuple[str | None, int | None]:
    """(agency, year) named by a report title; either may be None.

    >>> parse_title("众兴镇2020年度政府信息公开工作年度报告")
    ('众兴镇', 2020)
    >>> parse_title("2021年淮安市人民政府政府信息公开工作年度报告")
    ('淮安市人民政府', 2021)
    """
    text = _TITLE_LABEL.sub("", re.sub(r"\s+", "", title or ""))
    if not _REPORT_WORD.search(text):
        return None, None  # a page title, not a report's (行政处罚信息公开表 …)
    keyword = _TITLE_KEYWORD.search(text)
    year_match = _TITLE_YEAR.search(text)
    year = _year(year_match.group("year")) if year_match else None
    if year_match and year_match.start() > 0:
        head = text[: year_match.start()]
        head_kw = _TITLE_KEYWORD.search(head)
        agency = _clean_agency(head[: head_kw.start()] if head_kw else head)
    elif year_match:
        stop = keyword.start() if keyword and keyword.start() > year_match.end() else len(text)
        agency = _clean_agency(text[year_match.end(): stop])
    else:
        agency = _clean_agency(text[: keyword.start()]) if keyword else None
    return agency, year


def tidy_title(title: str) -> str:
    """A title without a ``标题:`` label, a site-name suffix, or the spaces PDF layouts put
    between Chinese characters and digits (``2024 年`` -> ``2024年``)."""
    title = _TITLE_LABEL.sub("", " ".join(strip_markup(title).split()))
    title = _FILE_EXTENSION.sub("", title).strip()
    title = re.sub(r"(报告|年报)\s*[-_|—–｜].*$", r"\1", title)  # "… 年度报告 - 某区人民政府" (page titles)
    return re.sub(r"(?<=[\u4e00-\u9fff\d])\s+(?=[\u4e00-\u9fff\d])", "", title)


def strip_markup(line: str) -> str:
    """One line without its Markdown marks and a leading "正文" label: what a reader sees."""
    return _BODY_LABEL.sub("", _MARKUP.sub("", line or "").strip())


def find_title(text: str, *, max_lines: int = 5) -> str:
    """The report title at the top of ``text``, joined when broken over lines.

    Converted documents often split it (``众兴镇2020年度政府信息公开工作`` / ``年度报告``);
    the title ends at the first line that completes ``…报告``/``…年报``.
    """
    lines = [strip_markup(line) for line in (text or "").splitlines()]
    lines = [line for line in lines if line and not line.startswith("|")][:max_lines]
    joined = ""
    for line in lines:
        if len(joined) + len(line) > 80:
            break
        joined += line
        if _TITLE_KEYWORD.search(joined) and _REPORT_WORD.search(line):
            return tidy_title(joined)
    return ""


# ---- report year and template ------------------------------------------------------------------

def find_report_year(text: str, title_year: int | None, warnings: list[str]) -> int | None:
    """The year the statistics cover: the 统计期限 period, else the title's year."""
    period = _STAT_PERIOD.search(text or "")
    if period:
        first, last = _year(period.group("y1")), _year(period.group("y2"))
        if first != last:
            warnings.append(f"统计期限 spans {first}-{last}; report_year is the last year")
        if title_year and title_year != last:
            warnings.append(f"title says {title_year} but 统计期限 says {last}; using 统计期限")
        return last
    return title_year


def template_for_year(year: int | None) -> str:
    """The national template in force for statistics of ``year`` ('' when the year is unknown)."""
    if year is None:
        return ""
    if year >= 2021:
        return "2021"
    return "2019" if year >= 2019 else "legacy"


def reconcile_template(by_year: str, by_labels: str | None, warnings: list[str]) -> str:
    """The table's labels (read by :mod:`pipelines.stat_tables`) win over the year; a disagreement is a warning."""
    if by_labels and by_year and by_labels != by_year:
        warnings.append(f"template: year implies {by_year!r} but the table's labels are template {by_labels!r}; using the labels")
        return by_labels
    return by_year or by_labels or ""


# ---- published date -------------------------------------------------------------------------------

def find_published_at(meta: dict[str, Any], text: str, hint: Any = None) -> str | None:
    """``<meta name="PubDate">``, else the hint, else a 发布时间 line at the top, else the date at the end."""
    lowered = {str(k).lower(): v for k, v in (meta or {}).items()}
    for key in _PUBDATE_META:
        date = parse_date(str(lowered.get(key) or ""))
        if date:
            return date
    if hint:
        date = hint.date().isoformat() if hasattr(hint, "date") and callable(hint.date) else parse_date(str(hint))
        if date:
            return date
    head = (text or "")[:600]
    line = _PUBLISHED_LINE.search(head)
    if line:
        date = parse_date(head[line.end(): line.end() + 25])
        if date:
            return date
    return _closing_date(text or "")


def _closing_date(text: str) -> str | None:
    """The date printed at the end of the report (after the signature), if any.

    Only the last ~200 characters count, and the date must be the last thing there but
    for page numbers and web-page leftovers, so a date inside the closing paragraph
    (``…至2020年12月31日止``) is not taken for the publication date.
    """
    tail = text.rstrip()[-200:]
    matches = list(_DATE.finditer(tail))
    if not matches:
        return None
    last = matches[-1]
    after = re.sub(r"[\s\-—\d页第共（）()。.]|附件下载|附件|打印本页|关闭窗口", "", tail[last.end():])
    before = tail[max(0, last.start() - 3): last.start()]
    if len(after) > 6 or re.search(r"[至到]\s*$", before):
        return None
    return _iso(last)


# ---- agency ---------------------------------------------------------------------------------------------

def _units_left_of(text: str, pos: int) -> list[str]:
    """Administrative units written immediately before ``pos`` (``长春市双阳区|太平镇``), outermost first."""
    units: list[str] = []
    while pos > 0:
        suffix = next((s for s in _UNIT_SUFFIXES if text.endswith(s, 0, pos)), None)
        if suffix is None:
            break
        start = pos - len(suffix)
        while (start > 0 and pos - len(suffix) - start < 7 and "\u4e00" <= text[start - 1] <= "\u9fff"
               and text[start - 1] not in _NAME_STOP):
            start -= 1
        if start == pos - len(suffix) or any(w in text[start:pos] for w in _NOT_PLACE):
            break
        units.insert(0, text[start:pos])
        pos = start
    return units


def split_units(name: str) -> list[str]:
    """The administrative units a name starts with (``淮安市洪泽区人民政府`` -> [淮安市, 洪泽区])."""
    units, pos = [], 0
    while True:
        m = _UNIT.match(name, pos)
        if not m or any(w in m.group() for w in _NOT_PLACE):
            return units
        units.append(m.group())
        pos = m.end()


def _body_name(agency: str, text: str) -> str:
    """``众兴镇`` -> ``众兴镇人民政府`` when the report calls itself that (a place is not a body)."""
    if not _PLACE_BODY.search(agency):
        return agency
    units = split_units(agency)
    innermost = agency[len("".join(units)):] or units[-1]
    for suffix in ("人民政府", "办事处"):
        if agency + suffix in text or innermost + suffix in text:
            return agency + suffix
    return agency


def find_agency(title_agency: str | None, text: str) -> str | None:
    """The publishing body: the title's name, completed from the text (see module docstring)."""
    agency = title_agency or _signature(text)
    if not agency:
        return None
    agency = _body_name(agency, text)
    return "".join(_prefix_units(agency, text, skip_addresses=True)) + agency


def _prefix_units(name: str, text: str, *, skip_addresses: bool) -> list[str]:
    """The longest run of administrative units written right before ``name`` anywhere in ``text``."""
    best: list[str] = []
    for m in re.finditer(re.escape(name), text):
        if skip_addresses and _ADDRESS_CONTEXT.search(text[max(0, m.start() - 12): m.start()]):
            continue
        units = _units_left_of(text, m.start())
        if len("".join(units)) > len("".join(best)):
            best = units
    return best


def _signature(text: str) -> str | None:
    """The body named on its own line at the end of the report, above the date."""
    lines = [line.strip() for line in text.rstrip().splitlines()[-6:] if line.strip()]
    for line in reversed(lines):
        if len(line) <= 30 and _BODY_SUFFIX.search(line) and not re.search(r"[，。；：]", line):
            return line
    return None


# ---- region ---------------------------------------------------------------------------------------------

def _level(unit: str, previous: list[str]) -> int:
    """0 province, 1 prefecture, 2 county (a 市 after another 市 is a county-level city)."""
    if unit.endswith(("省", "自治区", "特别行政区")) or unit in _MUNICIPALITIES:
        return 0
    if unit.endswith(("自治州", "地区", "盟")) or (unit.endswith("市") and not any(p.endswith("市") for p in previous)):
        return 1
    return 2


def refine_region(configured: str, units: list[str]) -> str:
    """``省/市/县``: the configured region, extended by the units the report names below it."""
    parts = [p for p in re.split(r"[/／>\s]+", configured or "") if p]
    if len(parts) == 1:
        parts = split_units(parts[0]) or parts
    deepest = max((_level(p, parts[:i]) for i, p in enumerate(parts)), default=-1)
    known = "".join(parts)
    for i, unit in enumerate(units):
        if unit not in known and _level(unit, units[:i]) > deepest:
            parts.append(unit)
            deepest = _level(unit, units[:i])
    return "/".join(parts)


def region_units(agency: str | None, text: str) -> list[str]:
    """Units the report names for itself: those its agency's name starts with, and those
    written before that name anywhere in the text (addresses included: they name the place)."""
    if not agency:
        return []
    return _prefix_units(agency, text, skip_addresses=False) + split_units(agency)


# ---- everything -------------------------------------------------------------------------------------------

def extract_metadata(
    text: str,
    *,
    title: str = "",
    meta: dict[str, Any] | None = None,
    region: str = "",
    published_hint: Any = None,
) -> Metadata:
    """All metadata of one report from its text, title and page meta (see module docstring)."""
    md = Metadata()
    md.title = tidy_title(title) or find_title(text)
    if not parse_title(md.title)[1]:
        md.title = find_title(text) or md.title
    title_agency, title_year = parse_title(md.title)
    md.agency = find_agency(title_agency, text)
    md.report_year = find_report_year(text, title_year, md.warnings)
    md.template = template_for_year(md.report_year)
    md.published_at = find_published_at(meta or {}, text, published_hint)
    md.region = refine_region(region, region_units(md.agency, text))
    for name in ("agency", "report_year", "published_at"):
        if getattr(md, name) in (None, ""):
            md.warnings.append(f"{name} not found")
    return md
