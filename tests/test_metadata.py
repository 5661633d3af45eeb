"""Agency, report year, template, publication date and region, checked against hand-read reports."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipelines.document import load_document
from pipelines.metadata import (
    extract_metadata,
    find_published_at,
    parse_date,
    parse_title,
    refine_region,
    template_for_year,
)

CORPUS = Path(__file__).parent / "fixtures" / "corpus"

# Read by hand from each document (title, 统计期限, signature, address lines, page header).
# region: what the report names of itself, without a configured region.
EXPECTED = {
    "seeds/000_754b2c1a6681c1c1.txt": ("众兴镇人民政府", 2020, "2019", "2021-01-18", "寿县"),
    "seeds/002_ff5e69430f7bf06e.txt": ("长春市双阳区太平镇人民政府", 2020, "2019", None, "长春市/双阳区"),
    "seeds/003_7f1b1d18961b41ce.txt": ("富阳区新桐乡人民政府", 2020, "2019", None, "富阳区"),
    "real/reports/pingtan_2019_page.txt": ("平潭综合实验区", 2019, "2019", "2020-01-20", "平潭综合实验区"),
    "real/reports/pingtan_2020_page.txt": ("平潭综合实验区", 2020, "2019", "2021-03-05", "平潭综合实验区"),
    "real/reports/pingtan_2021_page.txt": ("平潭综合实验区", 2021, "2021", "2022-02-08", "平潭综合实验区"),
    "real/reports/pingtan_2023_page.txt": ("平潭综合实验区", 2023, "2021", "2024-03-08", "平潭综合实验区"),
    "real/reports/pingtan_2024_page.txt": ("平潭综合实验区", 2024, "2021", "2025-03-10", "平潭综合实验区"),
    "real/reports/pingtan_2025_page.txt": ("平潭综合实验区", 2025, "2021", "2026-03-10", "平潭综合实验区"),
    "real/reports/huaian_city_gov_2024.pdf": ("淮安市人民政府", 2024, "2021", None, "淮安市"),
    "real/reports/huaian_hongze_district_2023.pdf": ("淮安市洪泽区人民政府", 2023, "2021", None, "淮安市/洪泽区"),
    "real/reports/huaian_hongze_district_2024.pdf": ("淮安市洪泽区人民政府", 2024, "2021", None, "淮安市/洪泽区"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_report_metadata(name: str) -> None:
    doc = load_document((CORPUS / name).read_bytes(), filename=name)
    md = extract_metadata(doc.text, title=doc.title, meta=doc.meta)
    assert (md.agency, md.report_year, md.template, md.published_at, md.region) == EXPECTED[name]
    assert "政府信息公开工作年度报告" in md.title and " " not in md.title


def test_configured_region_is_kept_and_refined() -> None:
    text = (CORPUS / "seeds" / "000_754b2c1a6681c1c1.txt").read_text(encoding="utf-8")
    assert extract_metadata(text, region="安徽省/淮南市").region == "安徽省/淮南市/寿县"
    assert extract_metadata(text, region="安徽省淮南市寿县").region == "安徽省/淮南市/寿县"
    text = (CORPUS / "seeds" / "002_ff5e69430f7bf06e.txt").read_text(encoding="utf-8")
    assert extract_metadata(text, region="吉林省").region == "吉林省/长春市/双阳区"


@pytest.mark.parametrize(
    ("configured", "units", "expected"),
    [
        ("江苏省/淮安市", ["淮安市", "洪泽区"], "江苏省/淮安市/洪泽区"),
        ("江苏省/淮安市/洪泽区", ["淮安市", "洪泽区"], "江苏省/淮安市/洪泽区"),
        ("", ["长春市", "双阳区"], "长春市/双阳区"),
        ("北京市", ["朝阳区"], "北京市/朝阳区"),
        ("浙江省/杭州市/富阳区", [], "浙江省/杭州市/富阳区"),
    ],
)
def test_refine_region(configured: str, units: list[str], expected: str) -> None:
    assert refine_region(configured, units) == expected


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("众兴镇2020年度政府信息公开工作年度报告", ("众兴镇", 2020)),
        ("太平镇人民政府2020年政府信息公开工作年度报告", ("太平镇人民政府", 2020)),
        ("富阳区新桐乡2020年 政府信息公开工作年度报告", ("富阳区新桐乡", 2020)),
        ("淮安市人民政府 2024 年政府信息公开工作年度报告", ("淮安市人民政府", 2024)),
        ("2021年淮安市人民政府政府信息公开工作年度报告", ("淮安市人民政府", 2021)),
        ("寿县人民政府关于2019年度政府信息公开工作的年度报告", ("寿县人民政府", 2019)),
        ("寿县教育局政府信息公开工作2019年度报告", ("寿县教育局", 2019)),
        ("平潭综合实验区二〇二〇年政府信息公开工作年度报告", ("平潭综合实验区", 2020)),
        ("标题: 平潭综合实验区2019年度政府信息公开工作年度报告", ("平潭综合实验区", 2019)),
        ("某某街道2022年度政务公开工作年度报告", ("某某街道", 2022)),
        ("政府信息公开工作年度报告", (None, None)),
        ("行政处罚信息公开表（浙金罚决字〔2024〕52号）", (None, None)),
        ("", (None, None)),
    ],
)
def test_parse_title(title: str, expected: tuple[str | None, int | None]) -> None:
    assert parse_title(title) == expected


def test_report_year_is_the_statistics_period_not_the_publication_year() -> None:
    text = ("某镇人民政府2021年政府信息公开工作年度报告\n本报告所列数据的统计期限自2020年1月1日起至2020年12月31日止。\n"
            "某镇人民政府\n2021年1月20日")
    md = extract_metadata(text)
    assert md.report_year == 2020
    assert md.published_at == "2021-01-20"
    assert any("统计期限" in w for w in md.warnings), "title and 统计期限 disagree: a warning says so"


def test_year_from_title_when_no_statistics_period() -> None:
    md = extract_metadata("正文没有统计期限。", title="某县2018年政府信息公开工作年度报告")
    assert (md.report_year, md.template, md.agency) == (2018, "legacy", "某县")


@pytest.mark.parametrize(("year", "template"), [(2017, "legacy"), (2018, "legacy"), (2019, "2019"), (2020, "2019"),
                                                (2021, "2021"), (2025, "2021"), (None, "")])
def test_template_for_year(year: int | None, template: str) -> None:
    assert template_for_year(year) == template


def test_published_at_order_of_trust() -> None:
    text = "某镇2020年度政府信息公开工作年度报告\n正文。\n某镇人民政府\n2021年1月18日"
    assert find_published_at({"PubDate": "2021-02-03 10:11"}, text) == "2021-02-03"
    assert find_published_at({}, text, hint=datetime(2021, 2, 1, tzinfo=UTC)) == "2021-02-01"
    assert find_published_at({}, text, hint="2021-02-05") == "2021-02-05"
    assert find_published_at({}, text) == "2021-01-18"


def test_closing_date_in_chinese_numerals_and_not_a_period_end() -> None:
    assert find_published_at({}, "正文。\n某局\n二〇二一年一月二十日\n") == "2021-01-20"
    assert find_published_at({}, "本报告统计期限自2020年1月1日起至2020年12月31日") is None
    assert find_published_at({}, "2021年1月18日召开会议，研究了很多很多很多很多很多很多很多很多很多很多的问题。") is None


@pytest.mark.parametrize(
    ("text", "iso"),
    [("2021年1月20日", "2021-01-20"), ("2024-07-12 17:33", "2024-07-12"), ("2021/3/5", "2021-03-05"),
     ("二〇二〇年十二月三十一日", "2020-12-31"), ("2021年13月1日", None), ("无日期", None)],
)
def test_parse_date(text: str, iso: str | None) -> None:
    assert parse_date(text) == iso


def test_agency_from_signature_when_title_has_none() -> None:
    md = extract_metadata("政府信息公开工作年度报告\n正文。\n寿县教育局\n2021年1月18日")
    assert md.agency == "寿县教育局"
    assert "report_year not found" in md.warnings


def test_page_title_suffix_and_pdf_spaces_are_dropped() -> None:
    md = extract_metadata("正文。", title="众兴镇 2020 年度政府信息公开工作年度报告 - 寿县人民政府")
    assert md.title == "众兴镇2020年度政府信息公开工作年度报告"
    assert (md.agency, md.report_year) == ("众兴镇", 2020)
