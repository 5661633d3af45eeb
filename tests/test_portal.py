"""The portal simulator itself: both CMS families render like the real ones, validators, traps, truth."""
from __future__ import annotations

import re
import time
from collections.abc import Iterator
from urllib.parse import unquote, urljoin

import httpx
import lxml.html
import pytest
from portal_simulator import PortalServer, TrapOptions, build_scale_site, build_site
from portal_simulator.model import sha256

from domain.chinese import decode_bytes


@pytest.fixture(scope="module")
def served() -> Iterator[tuple]:
    portal = build_site(options=TrapOptions(big_file_mb=1.5, slow_seconds=0.6, flaky_times=1))
    with PortalServer(portal) as server:
        yield portal, server


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def _get_ok(http: httpx.Client, url: str) -> httpx.Response:
    """GET, retrying a 503 the way a polite crawler would."""
    for _ in range(3):
        resp = http.get(url)
        if resp.status_code != 503:
            return resp
    return resp


def test_sites_on_distinct_loopback_addresses(served):
    _, server = served
    hosts = {httpx.URL(u).host for u in server.base_urls.values()}
    assert hosts == {"127.0.0.2", "127.0.0.3", "127.0.0.4"}


def test_trs_report_column_is_reached_from_home_and_paginated_only_in_javascript(served, http):
    _, server = served
    base = server.base_urls["trs"]
    home = http.get(base).content.decode("gbk")
    assert 'href="/zwgk/index.html">政务公开' in home
    assert "政府信息公开年报" in http.get(base + "zwgk/zfxxgk/index.html").content.decode("gbk")
    listing = http.get(base + "zwgk/zfxxgk/zfxxgknb/index.html").content.decode("gbk")
    pages = int(re.search(r'createPageHTML\((\d+), 0, "index", "html"\)', listing).group(1))
    assert pages >= 4
    assert "index_1.html" not in listing  # only the script knows the other pages
    assert 'href="./202401/t20240120_' in listing
    assert http.get(base + f"zwgk/zfxxgk/zfxxgknb/index_{pages - 1}.html").status_code == 200
    assert http.get(base + f"zwgk/zfxxgk/zfxxgknb/index_{pages}.html").status_code == 404


def test_trs_pages_are_gbk_labelled_gb2312(served, http):
    portal, server = served
    page = http.get(portal.manifest().by_key("zhongxing-2020").url)
    assert b"charset=gb2312" in page.content
    with pytest.raises(UnicodeDecodeError):
        page.content.decode("gb2312")  # 堃 and 镕 are GBK-only
    text, codec = decode_bytes(page.content, "gb2312")
    assert codec == "gb18030"
    assert "联系人：王堃" in text and "镕信" in text
    assert '<meta name="PubDate" content="2021-01-18 10:00" />' in text
    assert '<meta name="ArticleTitle" content="众兴镇2020年度政府信息公开工作年度报告" />' in text


def test_inline_report_has_word_exported_tables_with_the_seed_values(served, http):
    portal, _ = served
    text, _ = decode_bytes(http.get(portal.manifest().by_key("zhongxing-2020").url).content)
    assert 'class="MsoTableGrid"' in text and 'class="MsoNormal"' in text and "&nbsp;" in text
    tree = lxml.html.fromstring(text)
    tables = tree.xpath("//table[@class='MsoTableGrid']")
    assert len(tables) == 3
    active, applications, appeals = tables
    last_row = [c.text_content().strip() for c in active.xpath(".//tr")[-1].xpath("td")]
    assert last_row == ["政府集中采购", "19", "发包价561342.67元"]
    assert applications.xpath(".//td[@rowspan='3' and @colspan='3']")
    assert any("三、本年度办理结果" in td.text_content() for td in applications.xpath(".//td[@rowspan]"))
    assert len(appeals.xpath(".//tr")[-1].xpath("td")) == 15


def test_hanweb_first_page_embedded_rest_from_dataproxy(served, http):
    _, server = served
    base = server.base_urls["hanweb"]
    page = http.get(base + "col/col1234/index.html").text
    store = re.search(r'<script type="text/xml"><datastore>(.*?)</datastore></script>', page, re.S).group(1)
    first = re.findall(r'<record><!\[CDATA\[\s*<li><a href="([^"]+)"', store)
    total = int(re.search(r"totalRecord: (\d+)", page).group(1))
    assert "<nextgroup>" in store and len(first) == 4 < total
    proxy = base + "module/web/jpage/dataproxy.jsp"
    params = {"startrecord": 5, "endrecord": total, "perpage": 4}
    by_get = http.get(proxy, params={**params, "columnid": "1234", "unitid": "5678", "webid": "33"}).text
    by_post = http.post(proxy, params=params, data={"columnid": "1234", "unitid": "5678", "webid": "33"}).text
    assert by_get == by_post and f"<totalrecord>{total}</totalrecord>" in by_post
    rest = re.findall(r'<li><a href="([^"]+)"', by_post)
    assert len(first) + len(rest) == total and not set(first) & set(rest)
    assert "<totalrecord>0</totalrecord>" in http.get(proxy, params=params).text  # no columnid: nothing


def test_hanweb_downloads_name_the_file_only_in_content_disposition(served, http):
    portal, _ = served
    truth = portal.manifest()
    utf8 = http.get(truth.by_key("pingtan-2023").url)
    assert "." not in httpx.URL(truth.by_key("pingtan-2023").url).path.rsplit("/", 1)[-1].removesuffix(".jsp")
    assert utf8.headers["content-type"] == "application/octet-stream"
    name = unquote(utf8.headers["content-disposition"].split("filename*=UTF-8''", 1)[1])
    assert name == "平潭综合实验区2023年度政府信息公开工作年度报告.docx"
    gbk = http.get(truth.by_key("hongze-2024").url)
    raw = gbk.headers.raw[[k.lower() for k, _ in gbk.headers.raw].index(b"content-disposition")][1]
    assert raw.decode("gbk") == 'attachment; filename="淮安市洪泽区人民政府2024年政府信息公开工作年度报告.pdf"'


def test_every_manifest_report_is_served_with_its_bytes_and_format(served, http):
    portal, _ = served
    truth = portal.manifest()
    assert {r.template for r in truth.reports} == {"legacy", "2019", "2021"}
    assert {r.format for r in truth.reports} == {"html", "pdf", "docx", "doc", "wps"}
    assert {r.family for r in truth.reports} == {"trs", "hanweb"}
    magic = {"pdf": b"%PDF", "docx": b"PK\x03\x04", "doc": b"\xd0\xcf\x11\xe0", "wps": b"\xd0\xcf\x11\xe0", "html": b"<!DOCTYPE"}
    for report in truth.reports:
        resp = _get_ok(http, report.url)
        assert resp.status_code == 200, report.key
        assert sha256(resp.content) == report.sha256
        assert resp.content.startswith(magic[report.format]), report.key
        if report.kind == "attachment":  # the article page links the file
            page = http.get(report.page_url)
            links = {urljoin(report.page_url, h) for h in lxml.html.fromstring(page.content).xpath("//a/@href")}
            assert report.url in links


def test_noise_is_published_but_not_a_report(served, http):
    portal, _ = served
    truth = portal.manifest()
    titles = " ".join(r.title for r in truth.reports)
    for word in ("法治政府", "预算", "决算", "政府工作报告", "工作要点", "更正说明"):
        assert word not in titles
    listing = http.get(portal.sites["trs"].url("/zwgk/zfxxgk/zfxxgknb/index.html")).content.decode("gbk")
    assert "法治政府建设年度报告" in listing  # misfiled in the report column, as on real portals
    assert all(http.get(u).status_code == 200 for u in truth.not_reports)
    assert not set(truth.not_reports) & truth.report_urls()


def test_conditional_requests_get_304_until_the_document_changes(http):
    portal = build_site(("trs",), traps_on=False)
    with PortalServer(portal):
        url = portal.manifest().by_key("taiping-2020").url
        first = http.get(url)
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        assert http.get(url, headers={"If-None-Match": etag}).status_code == 304
        assert http.get(url, headers={"If-Modified-Since": modified}).status_code == 304
        assert http.get(url, headers={"If-None-Match": '"other"', "If-Modified-Since": modified}).status_code == 200
        portal.revise_report("taiping-2020")
        changed = http.get(url, headers={"If-None-Match": etag})
        assert changed.status_code == 200 and changed.headers["etag"] != etag
        assert http.get(url, headers={"If-Modified-Since": modified}).status_code == 200


def test_night_two_mutations(http):
    portal = build_site(traps_on=False)
    with PortalServer(portal) as server:
        before = portal.manifest()
        urls = {r.key: r.url for r in before.reports}
        sha = {r.key: r.sha256 for r in before.reports}
        added = [portal.add_report("trs"), portal.add_report("hanweb")]
        portal.revise_report("zhongxing-2020")
        portal.revise_report("hongze-2024")
        portal.replace_attachment("taiping-2020")
        portal.remove_report("pingtan-2017")
        portal.remove_report("pingtan-2025", how="unlisted")
        portal.move_report("xintong-2020")
        after = portal.manifest()
        now = {r.key: r for r in after.reports}
        assert set(added) == {"pingtan-2021", "huaian-2024"} <= set(now)
        for key in ("zhongxing-2020", "hongze-2024"):
            assert now[key].url == urls[key] and now[key].sha256 != sha[key]
            assert sha256(http.get(urls[key]).content) == now[key].sha256
        assert now["taiping-2020"].url != urls["taiping-2020"]
        assert http.get(urls["taiping-2020"]).status_code == 404
        assert http.get(now["taiping-2020"].url).status_code == 200
        assert {r.key for r in after.withdrawn} == {"pingtan-2017", "pingtan-2025"}
        assert http.get(urls["pingtan-2017"]).status_code == 404
        assert http.get(urls["pingtan-2025"]).status_code == 200  # only gone from the column
        assert "art_1234_" + urls["pingtan-2025"].rsplit("_", 1)[1] not in http.get(
            server.base_urls["hanweb"] + "col/col1234/index.html").text
        assert now["xintong-2020"].url != urls["xintong-2020"] and now["xintong-2020"].sha256 == sha["xintong-2020"]
        assert http.get(urls["xintong-2020"]).status_code == 404
        unchanged = {"pingtan-2019", "pingtan-2020", "hongze-2023", "pingtan-2023", "pingtan-2024"}
        assert all(now[k].sha256 == sha[k] and now[k].url == urls[k] for k in unchanged)
        assert [c.kind for c in portal.changes] == ["added", "added", "revised", "revised", "attachment_replaced",
                                                     "removed", "unlisted", "moved"]
        portal.move_report("hongze-2023", redirect=True)
        moved = http.get(urls["hongze-2023"])
        assert moved.status_code == 301 and moved.headers["location"] == portal.manifest().by_key("hongze-2023").url


def test_robots_and_traps(served, http):
    portal, server = served
    truth = portal.manifest()
    kinds = {t.kind for t in truth.traps}
    assert kinds >= {"robots", "calendar", "endless_page", "repeated_segments", "challenge_412", "waf", "flaky_503",
                     "html_as_pdf", "truncated_pdf", "oversized", "redirect_loop", "slow"}
    trs = server.base_urls["trs"]
    assert "Disallow: /zwgk/zfxxgk/zfxxgknb/nbbf/" in http.get(trs + "robots.txt").text
    assert all("/nbbf/" in u for u in truth.forbidden)

    def trap(kind: str, site: str = "trs") -> str:
        return next(t.url for t in truth.traps_of(kind) if t.site == site)

    for url in (t.url for t in truth.traps_of("challenge_412")):
        resp = http.get(url)
        assert resp.status_code == 412 and "$_ts" in resp.text
    assert "网站防火墙" in http.get(trap("waf")).text
    cal = http.get(trap("calendar")).text
    assert "month=2021-02" in cal and "month=2020-12" in cal
    assert 'page=2"' in http.get(trap("endless_page")).text
    deep = trap("repeated_segments").replace("zt/index.html", "zt/zt/zt/index.html")
    assert 'href="zt/index.html"' in http.get(deep).text
    assert http.get(trap("html_as_pdf")).content.startswith(b"<html")
    assert http.get(trap("truncated_pdf")).content.startswith(b"%PDF")
    assert not http.get(trap("truncated_pdf")).content.rstrip().endswith(b"%%EOF")
    assert len(http.get(trap("oversized")).content) >= 1.5 * 1024 * 1024
    loop = http.get(trap("redirect_loop"))
    assert loop.status_code == 302 and http.get(loop.headers["location"]).headers["location"] == trap("redirect_loop")
    started = time.monotonic()
    assert http.get(trap("slow")).status_code == 200 and time.monotonic() - started >= 0.6
    for flaky in truth.traps_of("flaky_503"):
        if not server.log.fetched(flaky.url):
            assert http.get(flaky.url).status_code == 503
            assert http.get(flaky.url).status_code == 200


def test_request_log_records_what_was_fetched(served, http):
    portal, server = served
    url = server.base_urls["hanweb"] + "index.html"
    http.get(url, headers={"User-Agent": "ogi-test/1"})
    entry = [e for e in server.log.entries("hanweb") if e.url == url][-1]
    assert entry.method == "GET" and entry.status == 200 and entry.headers["User-Agent"] == "ogi-test/1"
    assert not any(server.log.fetched(u) for u in portal.manifest().forbidden)


def test_scale_portal_spreads_thousands_of_pages_over_hosts(http):
    portal = build_scale_site(hosts=2, departments=10)
    with PortalServer(portal) as server:
        assert [httpx.URL(u).host for u in server.base_urls.values()] == ["127.0.0.2", "127.0.0.3"]
        assert [s.family for s in portal.sites.values()] == ["trs", "hanweb"]
        truth = portal.manifest()
        assert len(truth.reports) == 2 * 10 * 4 == len({r.url for r in truth.reports}) == len({r.sha256 for r in truth.reports})
        assert {r.template for r in truth.reports} == {"legacy", "2019", "2021"}
        assert sum(len(s.static()) for s in portal.sites.values()) > 100
        sample = truth.reports[::17]
        assert all(http.get(r.url).status_code == 200 for r in sample)
    assert len(build_scale_site().sites) == 20
