"""Recognising the printed labels of the three statistics tables, whatever their spelling.

Labels differ between reports in whitespace and line breaks, full- and half-width forms,
numbering (``一、`` / ``（一）`` / ``1.`` / ``1、``), remarks in brackets and small wording
changes (社会公益组织 / 社会公益性组织, 行政规范性文件 / 规范性文件). Every row and column is
therefore recognised by a short *key phrase* that all variants share, after normalising.
When a cell (or several label cells joined) holds more than one phrase — a row label after
its group label, ``（三）不予公开1.属于国家秘密``, or a header glued to the first row in
run-on text — the phrase that ends last names the row, because the most specific label is
printed last.
"""
from __future__ import annotations

import re

from domain.chinese import normalize_label

ACTIVE_ITEMS = {
    "rules": ("规章",),
    "normative_docs": ("规范性文件",),
    "licensing": ("行政许可",),
    "other_services": ("对外管理服务",),
    "penalty": ("行政处罚", "行政处"),  # 处罚 is often misread by OCR
    "enforcement": ("行政强制",),
    "fees": ("事业性收费",),
    "procurement": ("集中采购",),
}
ACTIVE_COLUMNS = {
    "made": ("新制作",),
    "published": ("新公开",),
    "total_public": ("对外公开总",),
    "prev_items": ("上一年项目", "上年项目"),
    "change": ("增/减", "增减", "增(减)"),
    "decisions": ("处理决定",),
    "projects": ("采购项目",),
    "amount": ("采购总金额", "采购金额"),
    "issued": ("制发",),
    "repealed": ("废止",),
    "in_force": ("现行有效",),
    "amount_10k_yuan": ("收费金额",),
}
COLUMNS_2019 = {"made", "published", "total_public", "prev_items", "change", "projects", "amount"}
COLUMNS_2021 = {"issued", "repealed", "in_force", "amount_10k_yuan"}

APPLICATION_ROWS = {
    "new": ("本年新收",),
    "carried_over": ("上年结转",),
    "result.disclosed": ("予以公开",),
    "result.partial": ("部分公开",),
    "result.withheld.state_secret": ("国家秘密",),
    "result.withheld.law_prohibited": ("法律行政法规禁止", "其他法律行政", "禁止公开"),
    "result.withheld.security_stability": ("三安全一稳定", "危及"),
    "result.withheld.third_party": ("第三方",),
    "result.withheld.internal_affairs": ("内部事务",),
    "result.withheld.process_info": ("过程性",),
    "result.withheld.enforcement_file": ("执法案卷",),
    "result.withheld.query_service": ("查询事项",),
    "result.unavailable.not_held": ("不掌握",),
    "result.unavailable.needs_creation": ("另行制作", "没有现成"),
    "result.unavailable.unclear": ("仍不明确", "补正后"),
    "result.not_processed.petition": ("信访",),
    "result.not_processed.duplicate": ("重复申请",),
    "result.not_processed.publication": ("出版物",),
    "result.not_processed.excessive": ("大量反复",),
    "result.not_processed.confirmation": ("重新出具", "确认或重新"),
    "result.other": ("其他处理",),
    "result.other.no_correction": ("不补正",),
    "result.other.no_fee": ("收费通知", "缴纳费用"),
    "result.total": ("总计", "合计"),
    "carried_forward": ("结转下年", "下年度继续"),
}
#: ``3.其他`` under （六）其他处理 is only recognisable from its neighbours.
OTHER_GROUP = ("result.other", "result.other.no_correction", "result.other.no_fee")

APPLICANT_COLUMNS = {
    "natural_person": ("自然人",),
    "commercial": ("商业",),
    "research": ("科研",),
    "nonprofit": ("公益",),
    "legal_services": ("法律服务",),
    "total": ("总计", "合计"),
}

APPEAL_GROUPS = {
    "litigation_direct": ("未经复议", "直接起诉"),
    "litigation_after_review": ("复议后起诉", "复议后"),
    "review": ("行政复议",),
}
APPEAL_OUTCOMES = {
    "upheld": ("维持",),
    "corrected": ("纠正",),
    "other": ("其他结果", "其他"),
    "pending": ("未审结", "尚未"),
    "total": ("总计", "合计"),
}

_NUMBERING = re.compile(r"^(?:[一二三四五六七八九十]+[、.]|[(][一二三四五六七八九十\d]+[)]|\d{1,2}[.、])")
_LEAF_NUMBER = re.compile(r"^\d{1,2}[.、]")
_REMARK = re.compile(r"[(][^()]{5,}[)]")


def norm(text: str) -> str:
    """Normalised label without remarks in brackets (``（除行政许可外的其他行政权力）``)."""
    return _REMARK.sub("", normalize_label(text))


def strip_numbering(text: str) -> str:
    """``（三）不予公开`` -> ``不予公开``, ``3、其他`` -> ``其他``."""
    return _NUMBERING.sub("", text)


def last_phrase(text: str, phrases: dict[str, tuple[str, ...]]) -> tuple[str | None, int]:
    """The key whose phrase ends last in ``text`` (and that end), or (None, -1)."""
    best, best_end = None, -1
    for key, options in phrases.items():
        for phrase in options:
            end = text.rfind(phrase)
            if end >= 0 and end + len(phrase) > best_end:
                best, best_end = key, end + len(phrase)
    return best, best_end


def phrases_in_order(text: str, phrases: dict[str, tuple[str, ...]]) -> list[str]:
    """Keys whose phrases occur in ``text``, in printed order (each key once)."""
    found: dict[str, int] = {}
    for key, options in phrases.items():
        positions = [text.find(p) for p in options if p in text]
        if positions:
            found[key] = min(positions)
    return sorted(found, key=found.__getitem__)


def application_row(label_cells: list[str], previous: str | None) -> str | None:
    """The applications-table row named by ``label_cells`` (joined in order), or None."""
    cells = [norm(c) for c in label_cells if c.strip()]
    if not cells:
        return None
    tails = {strip_numbering(cells[-1]), strip_numbering("".join(cells[-2:]))}
    if "其他" in tails and previous in OTHER_GROUP:
        return "result.other.other"
    if _LEAF_NUMBER.match(cells[-1]) and last_phrase(cells[-1], APPLICATION_ROWS)[0] is None:
        return None  # "2.申请人" cut short by a PDF line: not its group row "（六）其他处理"
    key, _ = last_phrase("".join(cells), APPLICATION_ROWS)
    return key


def active_item(label: str) -> str | None:
    """The active-disclosure item named in ``label`` (the printed row label), or None."""
    key, _ = last_phrase(norm(label), ACTIVE_ITEMS)
    return key


def applicant_column(header_cells: list[str]) -> str | None:
    """The applicant column of one grid column, read from its header cells bottom-up."""
    for cell in reversed(header_cells):
        text = strip_numbering(norm(cell))
        if text == "其他":
            return "other_org"
        key, _ = last_phrase(text, APPLICANT_COLUMNS)
        if key and not (key == "natural_person" and "法人" in text):
            return key
    return None


def appeal_column(header_cells: list[str]) -> tuple[str, str] | None:
    """(group, outcome) of one appeals grid column, from all its header cells."""
    text = "".join(norm(c) for c in header_cells)
    group = next((g for g, opts in APPEAL_GROUPS.items() if any(p in text for p in opts)), None)
    outcome_text = norm(header_cells[-1]) if header_cells else ""
    outcome, _ = last_phrase(outcome_text, APPEAL_OUTCOMES)
    if outcome is None:
        outcome, _ = last_phrase(text, APPEAL_OUTCOMES)
    return (group, outcome) if group and outcome else None
