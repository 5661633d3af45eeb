"""Report titles vs the documents filed beside them, years (also in Chinese numerals), agencies."""
import pytest

from crawler.classify import agency_from_title, clean_page_title, is_report_title, maybe_report_title, report_year, template_for

REPORTS = [
    ("平潭综合实验区2024年度政府信息公开工作年度报告", 2024, "平潭综合实验区"),
    ("太平镇人民政府2020年政府信息公开工作年度报告", 2020, "太平镇人民政府"),
    ("富阳区新桐乡2020年政府信息公开工作年度报告", 2020, "富阳区新桐乡"),
    ("2019年某某县教育局政府信息公开年报", 2019, "某某县教育局"),
    ("平潭综合实验区地方税务局2013年信息公开年度报告", 2013, "平潭综合实验区地方税务局"),
    ("二〇二〇年度寿县众兴镇政府信息公开工作年度报告", 2020, "寿县众兴镇"),
    ("众兴镇2020年度政务公开工作年度报告", 2020, "众兴镇"),
]
NOT_REPORTS = [
    "关于2020年度政府信息公开工作年度报告的更正说明",
    "某县2020年法治政府建设年度报告",
    "2021年政务公开工作要点",
    "某县2020年政府工作报告",
    "某县2021年财政决算",
    "某县2022年部门预算公开",
    "图解：2020年政府信息公开工作年度报告",
    "政府信息公开年报",  # the column, not a report: no year
    "关于印发政府信息公开工作年度报告格式的通知",
]


@pytest.mark.parametrize("title,year,agency", REPORTS)
def test_report_titles(title, year, agency):
    assert is_report_title(title)
    assert report_year(title) == year
    assert agency_from_title(title) == agency


@pytest.mark.parametrize("title", NOT_REPORTS)
def test_not_reports(title):
    assert not is_report_title(title)


def test_templates_by_year():
    assert [template_for(y) for y in (2008, 2018, 2019, 2020, 2021, 2025, None)] == [
        "legacy", "legacy", "2019", "2019", "2021", "2021", ""]


def test_truncated_link_text_may_be_a_report():
    assert maybe_report_title("平潭综合实验区2024年度政府信息公开工...")
    assert not maybe_report_title("某县2020年法治政府建设年度...")


def test_page_title_without_site_name():
    assert clean_page_title("2020年政府信息公开工作年度报告_某某县人民政府") == "2020年政府信息公开工作年度报告"
