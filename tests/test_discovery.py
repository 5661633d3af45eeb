"""Link scoring on anchor text, title attribute and URL: reports, columns, hubs, noise, traps."""
import pytest

from crawler.blocked import blocked_reason
from crawler.discovery import ATTACHMENT, COLUMN, HUB, PAGINATION, REPORT, Link, extract_links, score_link
from crawler.pages import read_page
from crawler.scope import default_domains, in_domains, trap_reason

HOME = """<html><head><meta charset="gb2312"><title>某某县人民政府</title></head><body>
<div class="nav"><a href="/xwzx/">新闻中心</a><a href="/zwgk/">政务公开</a><a href="/hdjl/">互动交流</a>
<a href="javascript:void(0)">打印</a><a href="mailto:a@b.cn">信箱</a></div>
<ul><li><a href="/zwgk/zfxxgk/zfxxgknb/" title="政府信息公开年报">信息公开年报</a></li>
<li><a href="./zwgk/zfxxgk/zfxxgknb/202101/t20210118_3456789.html"
 title="某某县2020年政府信息公开工作年度报告">某某县2020年政府信息公...</a></li>
<li><a href="/zwgk/fzzf/t1.html">某某县2020年法治政府建设年度报告</a></li>
<li><a href="/files/nb2019.pdf">某某县2019年政府信息公开工作年度报告.pdf</a></li>
<li><a href="/zwgk/zfxxgk/zfxxgknb/index_1.html">下一页</a></li></ul></body></html>"""


def _kinds(html: str, base: str = "http://www.mmx.gov.cn/") -> dict[str, tuple[str, int]]:
    return {link.url: (s.kind, s.score) for link in extract_links(html, base) for s in [score_link(link)]}


def test_home_page_links_are_scored():
    kinds = _kinds(HOME)
    base = "http://www.mmx.gov.cn"
    assert kinds[f"{base}/zwgk/zfxxgk/zfxxgknb/"][0] == COLUMN
    assert kinds[f"{base}/zwgk/"][0] == HUB
    assert kinds[f"{base}/zwgk/zfxxgk/zfxxgknb/202101/t20210118_3456789.html"] == (REPORT, 100)
    assert kinds[f"{base}/files/nb2019.pdf"] == (ATTACHMENT, 100)
    assert kinds[f"{base}/zwgk/zfxxgk/zfxxgknb/index_1.html"][0] == PAGINATION
    assert kinds[f"{base}/xwzx/"][1] < 0 and kinds[f"{base}/hdjl/"][1] < 0
    assert kinds[f"{base}/zwgk/fzzf/t1.html"][1] < 0
    assert not any(u.startswith(("javascript", "mailto")) for u in kinds)
    # columns outrank hubs, reports outrank both
    assert kinds[f"{base}/zwgk/zfxxgk/zfxxgknb/"][1] > kinds[f"{base}/zwgk/"][1]


def test_column_recognised_by_url_alone():
    assert score_link(Link("http://a/zwgk/xxgknb/", "栏目")).kind == COLUMN


def test_truncated_anchor_uses_title_attribute():
    link = Link("http://a/t1.html", "某某县2020年政府信息公...", "某某县2020年政府信息公开工作年度报告")
    assert link.label == "某某县2020年政府信息公开工作年度报告"


def test_gbk_page_declared_gb2312_decodes_without_mojibake():
    # 镕 is in GBK/GB18030 but not in GB2312: a strict GB2312 decoder would fail on it
    html = HOME.replace("某某县人民政府", "朱镕县人民政府").encode("gbk")
    page = read_page("http://www.mmx.gov.cn/", html, "gb2312")
    assert page.codec == "gb18030" and "朱镕县人民政府" in page.titles
    assert len(page.links) == 8


def test_report_title_from_meta_of_article_page():
    html = """<html><head><meta name="ArticleTitle" content="某某县2021年政府信息公开工作年度报告">
    <meta name="PubDate" content="2022-01-20 10:00"><title>年报_某某县</title></head><body><p>正文</p></body></html>"""
    page = read_page("http://a/t.html", html.encode(), "utf-8")
    assert page.report_title() == "某某县2021年政府信息公开工作年度报告"
    assert page.published_at == "2022-01-20 10:00"


@pytest.mark.parametrize("url,trap", [
    ("http://a/zwgk/202101/t20210118_3456789.html", False),
    ("http://a/art/2021/1/20/art_1234_567890.html", False),
    ("http://a/zwgk/nb/index_3.html", False),
    ("http://a/search.html?page=500", True),
    ("http://a/calendar/index.jsp?month=2021-01", True),
    ("http://a/list?date=2021-01-05", True),
    ("http://a/x/zt/zt/zt/index.html", True),
    ("http://a/a/b/c/a/b/index.html", True),
    ("http://a/nb/index_999.html", True),
    ("http://a/" + "x" * 700, True),
])
def test_traps(url, trap):
    assert bool(trap_reason(url)) is trap


def test_scope():
    domains = default_domains(["http://www.zhangshu.gov.cn/", "http://127.0.0.2:8000/"])
    assert domains == ["127.0.0.2", "zhangshu.gov.cn"]
    assert in_domains("http://xxgk.zhangshu.gov.cn/nb/", domains)
    assert in_domains("http://127.0.0.2:8000/x", domains)
    assert not in_domains("http://127.0.0.3:8000/x", domains)
    assert not in_domains("http://evilzhangshu.gov.cn/", domains)


def test_blocked_pages():
    assert "412" in blocked_reason(412, b"<html><script>var $_ts=window['$_ts'];</script></html>")
    assert "安全狗" in blocked_reason(200, "<html><body>网站防火墙 安全狗</body></html>".encode("gbk"), "text/html")
    assert "Cloudflare" in blocked_reason(503, b"<title>Just a moment...</title>", "text/html")
    assert blocked_reason(200, "<html><body>某某县2020年政府信息公开工作年度报告</body></html>".encode(), "text/html") == ""
    assert blocked_reason(200, b"%PDF-1.4 ... \xe5\xae\x89\xe5\x85\xa8\xe7\x8b\x97", "application/pdf") == ""
