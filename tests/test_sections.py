"""The six sections are found by their headings, on real reports and on small inline texts."""
from __future__ import annotations

from pathlib import Path

import pytest

from domain.schema import SECTIONS
from pipelines.sections import find_headings, split_sections

CORPUS = Path(__file__).parent / "fixtures" / "corpus"
REAL = sorted((CORPUS / "seeds").glob("*.txt")) + sorted((CORPUS / "real" / "reports").glob("pingtan_*.txt"))

# hand-checked: the first words of each section's body in each real report
FIRST_WORDS = {
    "000_754b2c1a6681c1c1.txt": {
        "overview": "2020年，根据县委", "active": "第二十条第（一）项", "applications": "（本列数据的勾稽关系",
        "appeals": "行政复议", "problems": "存在的主要问题\n1、各部门", "other": "建议政务公开",
    },
    "002_ff5e69430f7bf06e.txt": {
        "overview": "按照《中华人民共和国政府信息公开条例》国务院令", "active": "第二十条第（一）项",
        "applications": "（本列数据的勾稽关系", "appeals": "行政复议", "problems": "（一）存在的问题",
        "other": "本年度没有其他需要报告的事项。",
    },
    "pingtan_2019_page.txt": {
        "overview": "2019年，在省政府办公厅", "active": "第二十条第（一）项", "applications": "（本列数据的勾稽关系",
        "appeals": "行政复议行政诉讼", "problems": "2019年，我区政府信息公开工作取得", "other": "无其他需要报告的事项",
    },
    "pingtan_2024_page.txt": {
        "overview": "2024年，平潭综合实验区坚持", "active": "第二十条第（一）项", "applications": "（本列数据的勾稽关系",
        "appeals": "行政复议行政诉讼", "problems": "2024年，实验区政府信息公开工作", "other": "2024年，无收取信息处理费情况。",
    },
}


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_real_reports_have_all_six_sections_in_order(path: Path) -> None:
    """Every real report prints all six parts; none is taken from the table-of-contents sentence."""
    text = path.read_text(encoding="utf-8")
    headings = find_headings(text)
    assert [h.section for h in headings] == list(SECTIONS)
    assert [h.start for h in headings] == sorted(h.start for h in headings)
    for heading in headings:
        assert not any(toc in text[heading.start - 40: heading.start] for toc in ("本报告包括", "全文包括", "共分6个部分"))


@pytest.mark.parametrize("name", sorted(FIRST_WORDS))
def test_real_section_bodies_start_where_the_report_says(name: str) -> None:
    path = next(p for p in REAL if p.name == name)
    sections = split_sections(path.read_text(encoding="utf-8"))
    for key, words in FIRST_WORDS[name].items():
        assert sections[key].startswith(words), (key, sections[key][:40])


def test_seed_000_overview_subparts_are_not_sections() -> None:
    """主动公开信息情况 / 依申请公开信息情况 inside the overview are sub-parts; the real part 二 is the
    later, exactly worded heading before the table."""
    text = (CORPUS / "seeds" / "000_754b2c1a6681c1c1.txt").read_text(encoding="utf-8")
    sections = split_sections(text)
    assert "我镇政务公开工作聚焦公开内容高质量" in sections["overview"]
    assert "2020年度我镇未收到依申请公开信息" in sections["overview"]
    assert "累计发布各类信息1280条" not in sections["active"]


def test_unnumbered_and_reworded_headings() -> None:
    text = (
        "某县2021年度政府信息公开工作年度报告\n"
        "总体情况\n今年工作顺利。\n"
        "主动公开政府信息情况\n规章 0 0 0\n"
        "收到和处理政府信息公开申请情况\n一、本年新收政府信息公开申请数量\t3\n四、结转下年度继续办理\t0\n"
        "因政府信息公开工作被申请行政复议、提起行政诉讼情况\n行政复议\t0\n"
        "存在的主要问题及改进措施\n问题不少。\n"
        "其他需要报告的事项\n无。\n"
    )
    sections = split_sections(text)
    assert list(sections) == list(SECTIONS)
    assert sections["applications"].endswith("四、结转下年度继续办理\t0"), "a table row numbered 四、 is not part 四"
    assert sections["appeals"] == "行政复议\t0"
    assert sections["problems"] == "问题不少。"
    assert sections["other"] == "无。"


def test_table_of_contents_sentence_is_not_a_heading() -> None:
    """The inline list of all six parts (numbered or not) is skipped; the real headings follow."""
    text = (
        "本报告包括：一、总体情况；二、主动公开政府信息情况；三、收到和处理政府信息公开申请情况；"
        "四、政府信息公开行政复议、行政诉讼情况；五、存在的主要问题及改进情况；六、其他需要报告的事项。"
        "本报告所列数据的统计期限自2020年1月1日起至2020年12月31日止。\n"
        "一、总体情况\n甲。\n二、主动公开政府信息情况\n乙。\n六、其他需要报告的事项\n丙。"
    )
    sections = split_sections(text)
    assert sections == {"overview": "甲。", "active": "乙。", "other": "丙。"}


def test_flattened_text_with_headings_inside_lines() -> None:
    """Web pages flattened to one line: headings follow a sentence end or a table's last cell."""
    text = (
        "本报告共分6个部分：总体情况、主动公开政府信息情况、收到和处理政府信息公开申请情况、"
        "政府信息公开行政复议和行政诉讼情况、存在的主要问题及改进情况、其他需要报告的事项。"
        "一、总体情况 全年公开信息100条。二、主动公开政府信息情况规章000"
        "三、收到和处理政府信息公开申请情况自然人总计1 1四、结转下年度继续办理00"
        "四、政府信息公开行政复议、行政诉讼情况 000五、存在的主要问题及改进情况仍有不足。"
        "六、其他需要报告的事项无。"
    )
    sections = split_sections(text)
    assert list(sections) == list(SECTIONS)
    assert sections["overview"] == "全年公开信息100条。"
    assert sections["applications"] == "自然人总计1 1四、结转下年度继续办理00"
    assert sections["other"] == "无。"


def test_sub_heading_with_parenthesised_number_is_not_a_part() -> None:
    text = (
        "一、总体情况\n（一）主动公开情况\n公开100条。\n（二）依申请公开情况\n收到3件。\n"
        "二、主动公开政府信息情况\n表。\n三、收到和处理政府信息公开申请情况\n表。"
    )
    sections = split_sections(text)
    assert sections["overview"].startswith("（一）主动公开情况\n公开100条。\n（二）依申请公开情况")
    assert sections["active"] == "表。"


def test_mentions_inside_sentences_are_not_headings() -> None:
    text = ("一、总体情况\n我们认真做好主动公开政府信息情况的统计，也总结了存在的主要问题及改进情况。\n"
            "二、主动公开政府信息情况\n表")
    sections = split_sections(text)
    assert list(sections) == ["overview", "active"]
    assert sections["active"] == "表"


def test_missing_and_empty_sections() -> None:
    text = "五、存在的主要问题及改进情况\n六、其他需要报告的事项\n无"
    assert split_sections(text) == {"problems": "", "other": "无"}
    assert split_sections("") == {}
    assert split_sections("没有任何标题的一段文字。") == {}


def test_sub_heading_never_stands_in_for_a_missing_part() -> None:
    text = "一、总体情况\n（一）主动公开情况\n公开100条。\n三、收到和处理政府信息公开申请情况\n表。"
    assert list(split_sections(text)) == ["overview", "applications"]
