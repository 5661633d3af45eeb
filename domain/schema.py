"""The canonical keys of the three statistics tables (shared/spec/annual-report-schema.md).

Every number a report prints has one key here; exports, the database, the API and the
codebook all use them, so two reports can be compared cell by cell. Labels are the ones
printed by the national templates (国办公开办函〔2019〕60号 and 〔2021〕30号).
"""
from __future__ import annotations

from dataclasses import dataclass

TEMPLATES = ("2019", "2021", "legacy")
SECTIONS = ("overview", "active", "applications", "appeals", "problems", "other")
SECTION_HEADINGS = {
    "overview": "总体情况",
    "active": "主动公开政府信息情况",
    "applications": "收到和处理政府信息公开申请情况",
    "appeals": "政府信息公开行政复议、行政诉讼情况",
    "problems": "存在的主要问题及改进情况",
    "other": "其他需要报告的事项",
}


@dataclass(frozen=True)
class Key:
    """One cell of a statistics table."""

    key: str
    label: str
    templates: tuple[str, ...]
    derived: bool = False


_RULE_COLS = (("made", "本年新制作数量"), ("published", "本年新公开数量"), ("total_public", "对外公开总数量"))
_ITEM_COLS = (("prev_items", "上一年项目数量"), ("change", "本年增/减"), ("decisions", "处理决定数量"))
ACTIVE_2019 = (
    ("rules", "规章", _RULE_COLS),
    ("normative_docs", "规范性文件", _RULE_COLS),
    ("licensing", "行政许可", _ITEM_COLS),
    ("other_services", "其他对外管理服务事项", _ITEM_COLS),
    ("penalty", "行政处罚", _ITEM_COLS),
    ("enforcement", "行政强制", _ITEM_COLS),
    ("fees", "行政事业性收费", _ITEM_COLS[:2]),
    ("procurement", "政府集中采购", (("projects", "采购项目数量"), ("amount", "采购总金额"))),
)
_DOC_COLS_2021 = (("issued", "本年制发件数"), ("repealed", "本年废止件数"), ("in_force", "现行有效件数"))
_DECISIONS_2021 = (("decisions", "本年处理决定数量"),)
ACTIVE_2021 = (
    ("rules", "规章", _DOC_COLS_2021),
    ("normative_docs", "行政规范性文件", _DOC_COLS_2021),
    ("licensing", "行政许可", _DECISIONS_2021),
    ("penalty", "行政处罚", _DECISIONS_2021),
    ("enforcement", "行政强制", _DECISIONS_2021),
    ("fees", "行政事业性收费", (("amount_10k_yuan", "本年收费金额（单位：万元）"),)),
)

APPLICANT_COLUMNS = (
    ("natural_person", "自然人"),
    ("commercial", "商业企业"),
    ("research", "科研机构"),
    ("nonprofit", "社会公益组织"),
    ("legal_services", "法律服务机构"),
    ("other_org", "其他"),
    ("total", "总计"),
)

# (row key, label, templates); order is the printed order.
APPLICATION_ROWS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("new", "一、本年新收政府信息公开申请数量", ("2019", "2021")),
    ("carried_over", "二、上年结转政府信息公开申请数量", ("2019", "2021")),
    ("result.disclosed", "（一）予以公开", ("2019", "2021")),
    ("result.partial", "（二）部分公开（区分处理的，只计这一情形，不计其他情形）", ("2019", "2021")),
    ("result.withheld.state_secret", "（三）不予公开 1.属于国家秘密", ("2019", "2021")),
    ("result.withheld.law_prohibited", "2.其他法律行政法规禁止公开", ("2019", "2021")),
    ("result.withheld.security_stability", "3.危及“三安全一稳定”", ("2019", "2021")),
    ("result.withheld.third_party", "4.保护第三方合法权益", ("2019", "2021")),
    ("result.withheld.internal_affairs", "5.属于三类内部事务信息", ("2019", "2021")),
    ("result.withheld.process_info", "6.属于四类过程性信息", ("2019", "2021")),
    ("result.withheld.enforcement_file", "7.属于行政执法案卷", ("2019", "2021")),
    ("result.withheld.query_service", "8.属于行政查询事项", ("2019", "2021")),
    ("result.unavailable.not_held", "（四）无法提供 1.本机关不掌握相关政府信息", ("2019", "2021")),
    ("result.unavailable.needs_creation", "2.没有现成信息需要另行制作", ("2019", "2021")),
    ("result.unavailable.unclear", "3.补正后申请内容仍不明确", ("2019", "2021")),
    ("result.not_processed.petition", "（五）不予处理 1.信访举报投诉类申请", ("2019", "2021")),
    ("result.not_processed.duplicate", "2.重复申请", ("2019", "2021")),
    ("result.not_processed.publication", "3.要求提供公开出版物", ("2019", "2021")),
    ("result.not_processed.excessive", "4.无正当理由大量反复申请", ("2019", "2021")),
    ("result.not_processed.confirmation", "5.要求行政机关确认或重新出具已获取信息", ("2019", "2021")),
    ("result.other", "（六）其他处理", ("2019", "2021")),
    ("result.other.no_correction", "1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请", ("2021",)),
    ("result.other.no_fee", "2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请", ("2021",)),
    ("result.other.other", "3.其他", ("2021",)),
    ("result.total", "（七）总计", ("2019", "2021")),
    ("carried_forward", "四、结转下年度继续办理", ("2019", "2021")),
)

APPEAL_GROUPS = (
    ("review", "行政复议"),
    ("litigation_direct", "行政诉讼 未经复议直接起诉"),
    ("litigation_after_review", "行政诉讼 复议后起诉"),
)
APPEAL_OUTCOMES = (
    ("upheld", "结果维持"),
    ("corrected", "结果纠正"),
    ("other", "其他结果"),
    ("pending", "尚未审结"),
    ("total", "总计"),
)


def _active_keys() -> list[Key]:
    keys: dict[str, Key] = {}
    for template, items in (("2019", ACTIVE_2019), ("2021", ACTIVE_2021)):
        for item, item_label, cols in items:
            for col, col_label in cols:
                name = f"active.{item}.{col}"
                prev = keys.get(name)
                templates = (prev.templates if prev else ()) + (template,)
                keys[name] = Key(name, f"{item_label} {col_label}", templates)
    keys["active.procurement.amount_yuan"] = Key(
        "active.procurement.amount_yuan", "政府集中采购 采购总金额（折合元）", ("2019",), derived=True
    )
    return list(keys.values())


def _application_keys() -> list[Key]:
    # applications.result.other.* is printed in 2019 and derived (sum of three sub-rows) in
    # 2021; the value, not the key, carries that flag (ExtractedValue.derived).
    return [
        Key(f"applications.{row}.{col}", f"{row_label} {col_label}", templates)
        for row, row_label, templates in APPLICATION_ROWS
        for col, col_label in APPLICANT_COLUMNS
    ]


def _appeal_keys() -> list[Key]:
    return [
        Key(f"appeals.{group}.{outcome}", f"{group_label} {outcome_label}", ("2019", "2021"))
        for group, group_label in APPEAL_GROUPS
        for outcome, outcome_label in APPEAL_OUTCOMES
    ]


ALL_KEYS: tuple[Key, ...] = tuple(_active_keys() + _application_keys() + _appeal_keys())
KEYS_BY_NAME = {k.key: k for k in ALL_KEYS}


def keys_for(template: str) -> list[Key]:
    """The keys a report of ``template`` prints (legacy reports have no fixed table)."""
    return [k for k in ALL_KEYS if template in k.templates]


#: Every rule a record's ``checks`` can hold (the codebook lists them): id -> statement.
#: R1-R5 are the spec's consistency rules; R6-R9 the checks researchers add. A check whose
#: ``ok`` is null was not evaluated (its detail starts "not checked" and says why).
RULES: dict[str, str] = {
    "R1-balance": "per applicant column: new + carried over == result total + carried forward",
    "R2-row-total": "per row of part 三: total == sum of the six applicant columns",
    "R3-result-total": "per applicant column: （七）总计 == sum of all result rows",
    "R4-appeals-total": "per appeal group: total == upheld + corrected + other + pending",
    "R5-complete": "every cell of parts 三 and 四 was found",
    "R6-impossible": "no negative count (本年增/减 aside), no fractional count, no total smaller than one of its parts",
    "R7-text-total": "totals the text states (共收到政府信息公开申请N件, 行政复议N件, 行政诉讼N件) equal the table's",
    "R8-year-in-force": "2021 form, per row of part 二: 现行有效件数 == last year's 现行有效件数 + 本年制发件数 - 本年废止件数 "
                        "(same agency, previous year in the archive)",
    "R9-year-carried": "per applicant column: last year's 结转下年度继续办理 == this year's 上年结转 "
                       "(same agency, previous year in the archive)",
}
