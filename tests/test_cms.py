"""TRS WCM createPageHTML pagination and Hanweb JCMS datastore records + dataproxy ranges."""
from urllib.parse import parse_qs, urlsplit

from crawler.cms import hanweb_next_urls, hanweb_records, is_hanweb_dataproxy, trs_pages
from crawler.pages import read_page


def test_trs_classic_call():
    html = '<div id="page"><script>createPageHTML(6, 0, "index", "html");</script></div>'
    assert trs_pages(html, "http://a/zwgk/nb/index.html") == [f"http://a/zwgk/nb/index_{n}.html" for n in range(1, 6)]


def test_trs_current_page_and_variables():
    html = ("<script>var countPage = 3;//共多少页\nvar currentPage = 1;\n"
            "createPageHTML(countPage, currentPage, 'index', 'shtml');</script>")
    assert trs_pages(html, "http://a/nb/index_1.shtml") == ["http://a/nb/index.shtml", "http://a/nb/index_2.shtml"]


def test_trs_newer_six_argument_call():
    assert trs_pages("createPageHTML('page_div',4,0,'index','html',50);", "http://a/nb/") == [
        "http://a/nb/index_1.html", "http://a/nb/index_2.html", "http://a/nb/index_3.html"]


def test_trs_absent():
    assert trs_pages("<html>no pagination</html>", "http://a/") == []


HANWEB = """<div id="5678"><script type="text/xml"><datastore>
<nextgroup><![CDATA[<a href="/module/web/jpage/dataproxy.jsp?page=1&appid=1&webid=2&path=/&columnid=1234&unitid=5678&webname=%E5%AF%BF%E5%8E%BF&permissiontype=0"></a>]]></nextgroup>
<recordset>
<record><![CDATA[<li><a href="/art/2021/1/20/art_1234_567890.html" title="寿县2020年政府信息公开工作年度报告">寿县2020年政府信息公开...</a><span>2021-01-20</span></li>]]></record>
<record><![CDATA[<li><a href="/art/2020/1/20/art_1234_567800.html">寿县2019年政府信息公开工作年度报告</a></li>]]></record>
</recordset><totalrecord>7</totalrecord><totalpage>4</totalpage></datastore></script></div>
<script>$('#5678').jpage({ perPage: 2, totalRecord: 7 });</script>"""  # noqa: E501 - a portal's markup, URLs unbroken  # noqa: E501 - a portal's markup, URLs unbroken


def test_hanweb_records_and_their_links():
    assert len(hanweb_records(HANWEB)) == 2
    page = read_page("http://h/col/col1234/index.html", HANWEB.encode("utf-8"), "utf-8")
    urls = [link.url for link in page.links]
    assert "http://h/art/2021/1/20/art_1234_567890.html" in urls
    assert page.links[urls.index("http://h/art/2021/1/20/art_1234_567890.html")].label == "寿县2020年政府信息公开工作年度报告"


def test_hanweb_dataproxy_ranges_take_parameters_from_the_page():
    urls = hanweb_next_urls(HANWEB, "http://h/col/col1234/index.html")
    assert len(urls) == 1  # records 3..7 in one group of 3 pages x 2 records
    parts = urlsplit(urls[0])
    assert parts.path == "/module/web/jpage/dataproxy.jsp" and is_hanweb_dataproxy(urls[0])
    q = parse_qs(parts.query)
    assert (q["startrecord"], q["endrecord"], q["perpage"]) == (["3"], ["7"], ["2"])
    assert q["columnid"] == ["1234"] and q["unitid"] == ["5678"] and q["webid"] == ["2"] and q["webname"] == ["寿县"]


def test_hanweb_dataproxy_answer_is_a_listing():
    answer = """<?xml version="1.0" encoding="UTF-8"?><datastore><recordset>
    <record><![CDATA[<li><a href="/art/2019/1/2/art_1234_1.html">寿县2018年政府信息公开工作年度报告</a></li>]]></record>
    </recordset></datastore>"""
    page = read_page("http://h/module/web/jpage/dataproxy.jsp?startrecord=3", answer.encode(), "utf-8")
    assert [link.url for link in page.links] == ["http://h/art/2019/1/2/art_1234_1.html"]


def test_hanweb_without_more_records():
    assert hanweb_next_urls(HANWEB.replace("<totalrecord>7", "<totalrecord>2"), "http://h/") == []


JPAGE = """<div id="1234"><script type="text/xml"><datastore>
<nextgroup><![CDATA[<a href="/module/web/jpage/dataproxy.jsp?page=1&amp;webid=33&amp;path=/&amp;columnid=1234&amp;unitid=5678&amp;permissiontype=0"></a>]]></nextgroup>
<recordset><record><![CDATA[<li><a href="/art/1.html">a</a></li>]]></record></recordset></datastore></script></div>
<script>$('#1234').jpage({ dataStore: dataStore, perPage: 1, totalRecord: 4, groupSize: 3,
    proxyUrl: '/module/web/jpage/dataproxy.jsp',
    ajaxParam: {col: 1, appid: 1, webid: 33, path: '/', columnid: 1234, sourceContentType: 1, unitid: '5678', webname: '云溪区人民政府'}
});</script>"""  # noqa: E501 - a portal's markup, URLs unbroken


def test_hanweb_jpage_call_gives_total_and_parameters():
    [url] = hanweb_next_urls(JPAGE, "http://h/col/col1234/index.html")
    q = parse_qs(urlsplit(url).query)
    assert (q["startrecord"], q["endrecord"], q["perpage"]) == (["2"], ["4"], ["1"])
    assert q["col"] == ["1"] and q["sourceContentType"] == ["1"] and q["webname"] == ["云溪区人民政府"]
