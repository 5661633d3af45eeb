"""Pagination and navigation patterns of real portals (issue 14): each as a simulator page, with
the reports it must lead to, and the parsers on that markup.

The markup is the simulator's (portal_simulator.pagers), written from patterns on real saved
portal pages. A crawl of the pattern host must find every report, and a crawl of portals whose
home page and 政务公开 hub link the newest reports must still read each column to its last page.
"""
from __future__ import annotations

from portal_simulator import PortalServer, build_pattern_portal, build_scale_site
from portal_simulator.pagers import pager_html
from portal_simulator.site import Column
from test_crawl_e2e import crawl

from crawler.cms import api_page, json_api_url, json_listing, listing_page_count, next_api_url, trs_pages
from crawler.discovery import HUB, PAGINATION, Link, department_hub, extract_links, page_number, score_link, score_links
from storage.models import CrawlRun, Report
from tests.test_hostile_crawl import rows


def test_older_trs_pager_without_create_page_html():
    html = pager_html(Column("nb", "年报", "/nb/", pager="countpage"), 0, 56)
    assert "createPageHTML" not in html
    pages = trs_pages(html, "http://a/nb/index.html")
    assert pages[0] == "http://a/nb/index_1.html" and len(pages) == 55
    assert listing_page_count(html) == 56


def test_inline_create_page_html_definition_is_passed_over_for_the_call():
    html = pager_html(Column("nb", "年报", "/nb/", pager="inline_def"), 0, 50)
    assert html.index("function createPageHTML(_nPageCount") < html.index("createPageHTML(50, 0")
    assert len(trs_pages(html, "http://a/nb/index.html")) == 49


def test_json_list_api_named_by_the_script():
    html = pager_html(Column("nb", "年报", "/zwgk/xznb/", page_size=10, pager="api"), 0, 2)
    url = json_api_url(html, "http://a/zwgk/xznb/index.html")
    assert url.startswith("http://a/api/list?channelId=") and url.endswith("&pageSize=10&pageNo=1")
    assert next_api_url(url, 2).endswith("&pageNo=2")
    answer = ('{"code": 200, "data": {"total": 19, "list": '
              '[{"title": "某镇2023年政府信息公开工作年度报告", "url": "/x/t1.html"}]}}')
    links, pages = json_listing(answer, url)
    assert links == [Link("http://a/x/t1.html", "某镇2023年政府信息公开工作年度报告")] and pages == 2
    assert json_api_url("<script>$.get('/api/list?id=3')</script>", "http://a/") == ""  # no page variable


def test_an_api_page_is_its_last_parameter_whatever_it_is_called():
    """The spider pages an API from its page 1: currentPage, cur or current are page variables too."""
    script = "<script>var id = 7; $.get('/api/list?channelId=' + id + '&currentPage=' + currentPage)</script>"
    url = json_api_url(script, "http://a/nb/")
    assert url == "http://a/api/list?channelId=7&currentPage=1" and api_page(url) == 1
    assert api_page(next_api_url(url, 3)) == 3 and api_page("http://a/api/list?id=3&q=x") is None


def test_javascript_column_link_and_department_names_on_a_platform():
    html = ('<a href="javascript:getMainData(\'ndbg\')">年度报告</a><a href="/xxgk/fgw/index.html">市发展改革委</a>'
            '<script>function getMainData(code) { window.location.href = "/xxgk/" + code + "/index.html"; }</script>')
    links = extract_links(html, "http://a/xxgk/index.html", scripts=html.split("<script>")[1])
    assert [link.url for link in links] == ["http://a/xxgk/ndbg/index.html", "http://a/xxgk/fgw/index.html"]
    department = Link("http://a/bm/fgw/index.html", "市发展改革委")
    assert score_link(department).score < 10  # on its own a name says nothing
    assert department_hub(department, page_is_platform=True).kind == HUB
    assert department_hub(department, page_is_platform=False) is None
    assert [s.kind for s in score_links(links, platform=True)][1] == HUB
    assert department_hub(Link("http://a/xxgk/202301/t20230101_1.html", "县教育局"), True) is None


def test_focus_news_under_xxgk_breadcrumb_home_and_first_page_column():
    news = Link("http://a/xxgk/tzgg/202301/t20230105_7200001.html", "关于做好2023年政务公开工作的通知")
    assert score_link(news).score < 10
    assert score_link(Link("http://a/zfxxgk/xxgknb/art_12_3456.html", "政务公开")).score < 10
    assert score_link(Link("http://a/index.html", "首页")).kind != PAGINATION
    column = score_link(Link("http://a/xxgk/list.jsp?cid=12&page=1", ""))
    assert column.kind != PAGINATION
    assert score_link(Link("http://a/xxgk/list.jsp?cid=12&page=2", "")).kind == PAGINATION
    assert (page_number("http://a/nb/index_4.html"), page_number("http://a/l?page=5"), page_number("http://a/")) == (5, 5, None)


def _reports(db_url: str) -> set[str]:
    return {r.url for r in rows(db_url, Report)}


def test_pattern_portal_every_report_found(db_url, tmp_path):
    portal = build_pattern_portal("127.0.0.5")
    with PortalServer(portal) as server:
        truth = portal.manifest()
        summary = crawl(list(server.base_urls.values()), db_url, tmp_path)
        requested = {entry.path for entry in server.log.entries()}
    assert summary["status"] == "finished"
    # report pages that link the reports before and after them (上一篇 / 下一篇) are reports, not listings
    assert _reports(db_url) == truth.report_urls()
    assert not any(path.startswith("/xxgk/tzgg/2") for path in requested)  # news under /xxgk/ is not a hub
    [run] = rows(db_url, CrawlRun)
    stats = run.stats  # the end-of-crawl check: every report-like page fetched was recorded
    assert stats["report_like_fetched"] == stats["report_like_recorded"] >= len(truth.reports) and stats["unrecorded"] == {}


def test_report_column_read_to_its_last_page_after_home_linked_the_newest(db_url, tmp_path):
    """Home and 政务公开 link the column's first page of reports: that page has nothing new, but
    its plain 下一页 / 2 / 尾页 links lead to the older reports."""
    portal = build_scale_site(hosts=2, first_address=70, departments=5, pager="links", newest_first=True)
    with PortalServer(portal) as server:
        truth = portal.manifest()
        summary = crawl(list(server.base_urls.values()), db_url, tmp_path)
    assert summary["reports_new"] == len(truth.reports) == 40
    assert _reports(db_url) == truth.report_urls()
