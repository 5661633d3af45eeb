"""One name per publishing body, whatever its reports call it.

Reports of the same department differ from year to year in ways that do not change who
published them: the place in front (杭州市富阳区人力资源和社会保障局 / 人力资源和社会保障局),
a common abbreviation (县人社局 / 县人力资源和社会保障局), spaces. :func:`canonical_agency`
removes those differences; the region code the body belongs to completes the key
(:func:`agency_key`), so 人力资源和社会保障局 of two counties stay two bodies.

A department that was *renamed or merged* (the 2018 institutional reform turned every
卫生和计划生育委员会 into a 卫生健康委员会) is a different name on purpose: it keeps its own key
and :func:`successor` links it to the body that took over, so the expectation passes to the
successor without the two histories being silently merged.
"""
from __future__ import annotations

import re

from domain.gazetteer import strip_places

GOVERNMENT = "人民政府"

#: Common abbreviations of departments, as portals print them, to their full names.
ABBREVIATIONS = {
    "人社局": "人力资源和社会保障局",
    "发改委": "发展和改革委员会",
    "发改局": "发展和改革局",
    "住建局": "住房和城乡建设局",
    "卫健委": "卫生健康委员会",
    "卫健局": "卫生健康局",
    "市场监管局": "市场监督管理局",
    "交通局": "交通运输局",
    "资规局": "自然资源和规划局",
    "应急局": "应急管理局",
    "医保局": "医疗保障局",
    "退役军人局": "退役军人事务局",
    "教体局": "教育体育局",
    "科技局": "科学技术局",
    "工信局": "工业和信息化局",
    "民宗局": "民族宗教事务局",
    "城管局": "城市管理局",
    "政府办": "人民政府办公室",
    "府办": "人民政府办公室",
    "政府办公室": "人民政府办公室",
    "政府": GOVERNMENT,
}

#: Renamed or merged departments (predecessor -> successor), mostly from the 2018 reform.
RENAMES = {
    "卫生和计划生育委员会": "卫生健康委员会",
    "卫生和计划生育局": "卫生健康局",
    "国土资源局": "自然资源局",
    "环境保护局": "生态环境局",
    "安全生产监督管理局": "应急管理局",
    "工商行政管理局": "市场监督管理局",
    "食品药品监督管理局": "市场监督管理局",
    "质量技术监督局": "市场监督管理局",
    "农业局": "农业农村局",
    "文化广电新闻出版局": "文化和旅游局",
}

_KNOWN = {*ABBREVIATIONS.values(), *RENAMES, *RENAMES.values()}
_GENERIC_UNIT = re.compile(r"^[省市县区旗州]")  # 县人社局: the place said without its name


def canonical_agency(name: str, region_code: str | None) -> str:
    """The body's own name: no place in front, no abbreviation, no spaces."""
    text = re.sub(r"\s+", "", name or "").replace("（", "(").replace("）", ")")
    text = strip_places(text, region_code)
    for short, full in sorted(ABBREVIATIONS.items(), key=lambda kv: -len(kv[0])):
        if text.endswith(short) and not text.endswith(full):
            text = text[: -len(short)] + full
            break
    if _GENERIC_UNIT.match(text) and (text[1:] in _KNOWN or text[1:] == GOVERNMENT):
        text = text[1:]
    return text


def agency_key(name: str, region_code: str | None) -> str:
    """``<region code>/<canonical name>``: stable across years and small name changes."""
    return f"{region_code or 'unknown'}/{canonical_agency(name, region_code)}"


def government_key(region_code: str) -> str:
    """The key of the local government of ``region_code`` (it owes the consolidated report)."""
    return f"{region_code}/{GOVERNMENT}"


def is_government(key: str) -> bool:
    return key.endswith("/" + GOVERNMENT)


def successor(key: str) -> str | None:
    """The key of the body that took over from ``key`` by a known reform, else None."""
    code, _, name = key.partition("/")
    new = RENAMES.get(name)
    return f"{code}/{new}" if new else None
