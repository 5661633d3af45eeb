"""Markdown as converters make it (pipe tables, HTML tables, page breaks, wrapped headers, lost
labels), generated from the evaluation set and asserted cell by cell against its truth."""
from __future__ import annotations

import re

import pytest
from eval import evalset
from eval.markdown import to_markdown

from domain.sniff import sniff
from pipelines.extract import extract_document
from storage.models import Report
from tests.test_hostile_crawl import Route, crawl, listing_html, rows, server, sqlite_url  # noqa: F401 - fixtures

REPORTS = ["huaian_hongze_district_2023", "pingtan_2021", "seed_000_zhongxing_2020"]
SHAPES = {
    "pipe": {},
    "html-tables": {"html_tables": True},
    "page-breaks": {"page_breaks": (8, 20)},
    "page-break-repeated-header": {"page_breaks": (10,), "repeat_header": True},
    "split-header": {"split_header": True, "page_breaks": (5,)},
    "lost-labels": {"drop_labels": ("一、本年新收", "2.重复申请", "3.要求提供", "（六）其他处理", "四、结转")},
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", REPORTS)
def test_every_cell_of_a_markdown_conversion(name: str, shape: str) -> None:
    exp = evalset.expected(name)
    record = extract_document(to_markdown(exp, **SHAPES[shape]), filename="converted.txt")
    score = evalset.compare(record["cells"], exp)
    assert score["wrong"] == {} and score["right"] == score["total"]
    assert record["format"] == "markdown"
    assert record["agency"] in exp["metadata"]["agency"]
    assert record["title"] == f"{exp['metadata']['agency'][0]}{exp['metadata']['report_year']}年政府信息公开工作年度报告"
    assert not record["title"].startswith("#") and record["agency"] != "正文"


def test_lost_labels_are_placed_by_the_form_order_and_say_so() -> None:
    exp = evalset.expected("huaian_hongze_district_2023")
    record = extract_document(to_markdown(exp, drop_labels=("2.重复申请",)), filename="r.md")
    assert record["values"]["applications.result.not_processed.duplicate.total"] == 0
    assert any("without a label" in w and "placed by the form's row order" in w for w in record["warnings"])


def test_lost_labels_that_no_form_explains_stay_null_with_the_reason() -> None:
    """One label-less row too many (a page break printed a row twice): nothing is guessed."""
    exp = evalset.expected("huaian_hongze_district_2023")
    text = to_markdown(exp, drop_labels=("2.重复申请",)).decode()
    lost = next(line for line in text.splitlines() if re.match(r"^\|(\s*\|){3}\s*\d", line))
    text = text.replace(lost, lost + "\n" + lost, 1)
    record = extract_document(text.encode(), filename="r.md")
    assert record["values"].get("applications.result.not_processed.duplicate.total") is None
    assert any("left unread: no form prints that many rows there" in w for w in record["warnings"])
    assert any(c["rule"] == "R5-complete" and not c["ok"] for c in record["checks"])


@pytest.mark.parametrize("filename", ["report.md", "report.txt", "report", "report.html"])
def test_markdown_is_recognised_by_content(filename: str) -> None:
    data = to_markdown(evalset.expected("pingtan_2021"), html_tables=True)
    assert sniff(data, filename=filename).format == "markdown"
    assert sniff("第一行\n第二行 | 不是表格\n".encode(), filename=filename).format in ("txt", "html")


def test_title_and_agency_are_not_markup_or_body_labels() -> None:
    exp = evalset.expected("seed_000_zhongxing_2020")
    text = to_markdown(exp).decode().replace("# **", "正文\n\n# **", 1)
    record = extract_document(text.encode(), filename="r.md")
    assert record["title"].startswith(exp["metadata"]["agency"][0]) and record["agency"] != "正文"


def test_the_crawler_archives_markdown_and_text_downloads_as_reports(server, sqlite_url, tmp_path) -> None:  # noqa: F811 - the imported fixtures
    """A converter's Markdown posted as .md, the same saved as .txt, and a plain-text dump: each is
    a report download the crawler keeps (the bytes decide the format), not a refused attachment."""
    files = {"/md/r.md": to_markdown(evalset.expected("pingtan_2021")),
             "/md/r.txt": to_markdown(evalset.expected("huaian_hongze_district_2023"), page_breaks=(8,)),
             "/md/plain.txt": "一、总体情况\n本年度工作正常开展。\n".encode()}
    titles = ["平潭县2021年政府信息公开工作年度报告", "洪泽区2023年政府信息公开工作年度报告",
              "平潭县教育局2021年政府信息公开工作年度报告"]
    for path, data in files.items():
        server.routes[path] = Route(data, {"Content-Type": "application/octet-stream"})
    server.routes["/md/"] = Route(listing_html(list(zip(files, titles, strict=True))))

    result = crawl(server.url("/md/"), sqlite_url, tmp_path)

    assert result.summary["reports_new"] == 3, result.summary
    assert sorted(r.document_url for r in rows(sqlite_url, Report)) == sorted(server.url(p) for p in files)
    assert {sniff(b.read_bytes()).format for b in (tmp_path / "blobs").rglob("*") if b.is_file()} >= {"markdown", "txt"}
