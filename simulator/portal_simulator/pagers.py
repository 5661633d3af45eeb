"""Listing pagers and navigation as real portals write them, for the TRS-style test sites.

Each pager is markup written from a pattern seen on real saved portal pages (not copied):

* ``js``: ``createPageHTML(6, 0, "index", "html")`` (the classic TRS call);
* ``countpage``: older TRS templates without that call: ``var countPage = 56`` and each pager
  link written by ``document.write("index" + "_" + nextPage + ".html")``;
* ``inline_def``: the page defines ``function createPageHTML(_nPageCount, ...)`` before calling
  ``createPageHTML(50, 0, "index", "html")``;
* ``links``: plain ``首页 上一页 1 2 3 下一页 尾页`` links and 共N页;
* ``api``: page 1 in the HTML, the rest only from a JSON list API the script calls
  (``/api/list?channelId=..&pageSize=..&pageNo=`` + pageNo); :func:`api_answer` serves it.

:func:`build_pattern_site` puts them together on one TRS host, with a 信息公开 platform whose
departments are linked by name only (市发展改革委 ...), a column reached only through
``javascript:getMainData('ndbg')``, and news items under ``/xxgk/`` that are not sections.
"""
from __future__ import annotations

import json
import math
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta

from portal_simulator.corpus import pdf_bytes
from portal_simulator.model import Article, Attachment, Report
from portal_simulator.render import esc
from portal_simulator.site import Column, Request, Response, Site

API_PATH = "/api/list"

_CLASSIC = """<div class="page"><script language="JavaScript">
var currentPage = {current};//所在页从0开始
var countPage = {count}//共多少页
createPageHTML({count}, {current}, "index", "html");
</script></div>"""

_COUNTPAGE = """<div class="page"><script language="JavaScript">
var currentPage = {current};//所在页从0开始
var prevPage = currentPage-1//上一页
var nextPage = currentPage+1//下一页
var countPage = {count}//共多少页
document.write("共"+countPage+"页&nbsp;&nbsp;");
if(countPage>1&&currentPage!=(countPage-1)){{
  document.write("<a href=\\"index" + "_" + nextPage + ".html\\" class=\\"next\\">下一页</a>");
}}
</script></div>"""

_INLINE_DEF = """<div class="page"><script language="JavaScript">
function createPageHTML(_nPageCount, _nCurrIndex, _sPageName, _sPageExt){{
  if(_nPageCount == null || _nPageCount<=1){{ return; }}
  var nCurrIndex = _nCurrIndex || 0;
  if(nCurrIndex < _nPageCount-1){{
    document.write("<a href=\\""+_sPageName+"_" + (nCurrIndex+1) + "."+_sPageExt+"\\">下一页</a>");
  }}
}}
createPageHTML({count}, {current}, "index", "html");
</script></div>"""

_API = """<div id="more"></div><script type="text/javascript">
var channelId = {channel};
var pageSize = {size};
function loadPage(pageNo) {{
  $.getJSON("{api}?channelId=" + channelId + "&pageSize=" + pageSize + "&pageNo=" + pageNo, function (res) {{
    var html = "";
    $.each(res.data.list, function (i, doc) {{ html += "<li><a href='" + doc.url + "'>" + doc.title + "</a></li>"; }});
    $("#more").html(html);
    renderPager(res.data.total, pageNo);
  }});
}}
</script>"""


def pager_html(column: Column, current: int, count: int) -> str:
    """The pager markup of page ``current`` (0-based) of ``count`` in ``column``'s style."""
    style = column.pager
    if style == "countpage":
        return _COUNTPAGE.format(current=current, count=count)
    if style == "inline_def":
        return _INLINE_DEF.format(current=current, count=count)
    if style == "links":
        return _links(current, count)
    if style == "api":
        return _API.format(channel=channel_id(column), size=column.page_size, api=API_PATH)
    return _CLASSIC.format(current=current, count=count)


def _links(current: int, count: int) -> str:
    def name(n: int) -> str:
        return "index.html" if n == 0 else f"index_{n}.html"

    parts = [f'<a href="{name(0)}">首页</a>']
    if current > 0:
        parts.append(f'<a href="{name(current - 1)}">上一页</a>')
    parts += [f"<span>{n + 1}</span>" if n == current else f'<a href="{name(n)}">{n + 1}</a>' for n in range(count)]
    if current < count - 1:
        parts.append(f'<a href="{name(current + 1)}">下一页</a>')
    parts.append(f'<a href="{name(count - 1)}">尾页</a>')
    return f'<div class="page">共{count}页 ' + " ".join(parts) + "</div>"


def channel_id(column: Column) -> int:
    """The numeric channel id a list API knows a column by."""
    return zlib.crc32(column.ident.encode()) % 100000


def pages_in_html(column: Column, entries: int) -> int:
    """How many list pages are written as HTML: an API column has only its first."""
    pages = max(1, math.ceil(entries / column.page_size))
    return 1 if column.pager == "api" else pages


def api_handler(site: Site, entries: Callable[[Column], list[tuple[str, str, datetime, object]]]) -> Callable:
    """The JSON list API of ``site``'s ``api`` columns: ``{"data": {"total": N, "list": [{title, url}]}}``."""

    def answer(request: Request, path: str) -> Response | None:
        if path != API_PATH:
            return None
        channel = request.param("channelId")
        column = next((c for c in site.columns.values() if str(channel_id(c)) == channel), None)
        if column is None:
            return Response(404, b'{"code": 404, "msg": "no such channel"}', "application/json;charset=UTF-8")
        size = int(request.param("pageSize") or column.page_size)
        page = max(1, int(request.param("pageNo") or 1))
        found = entries(column)
        chunk = found[(page - 1) * size:page * size]
        listed = [{"title": t, "url": _absolute(column, href), "pubDate": f"{d:%Y-%m-%d}"} for t, href, d, _ in chunk]
        body = {"code": 200, "data": {"total": len(found), "pageNo": page, "list": listed}}
        return Response(body=json.dumps(body, ensure_ascii=False).encode("utf-8"), content_type="application/json;charset=UTF-8")

    return answer


def _absolute(column: Column, href: str) -> str:
    return column.ident + href[2:] if href.startswith("./") else href


# --- the pattern host ------------------------------------------------------------------

# (column key, title, directory, pager, reports): one column per pager pattern.
PAGER_COLUMNS = (
    ("countpage", "政府信息公开年报", "/zwgk/xxgknb/", "countpage", 9),
    ("inline_def", "部门信息公开年报", "/zwgk/bmnb/", "inline_def", 9),
    ("api", "乡镇信息公开年报", "/zwgk/xznb/", "api", 19),
    ("links", "街道信息公开年报", "/zwgk/jdnb/", "links", 9),
)
DEPARTMENT_SITES = (("fgw", "市发展改革委"), ("jyj", "县教育局"), ("czj", "市财政局"), ("hxz", "和平镇"))
NEWS_UNDER_XXGK = (
    "关于做好2023年政务公开工作的通知", "我市召开政府信息公开工作推进会", "市政府信息公开工作年度考核结果通报",
    "关于进一步加强政务公开标准化规范化建设的实施意见", "政务公开专区开放日活动顺利举行",
)


# The sections every report has (2019 template), a few sentences each: a report page's body is long.
_SECTIONS = [block for heading, text in (
    ("一、总体情况", "本年度，本机关认真贯彻落实《中华人民共和国政府信息公开条例》，坚持以公开为常态、不公开为例外，"
                    "围绕中心工作推进决策、执行、管理、服务、结果公开，主动公开政府信息，依法办理政府信息公开申请。"),
    ("二、主动公开政府信息情况", "全年主动公开规章、规范性文件、行政许可、行政处罚、行政强制和行政事业性收费等信息，"
                              "通过政府网站、政务新媒体和政务公开专区等渠道及时发布，便于公众查阅。"),
    ("三、收到和处理政府信息公开申请情况", "全年收到政府信息公开申请若干件，均在法定期限内答复，"
                                    "予以公开、部分公开、不予公开和无法提供等情形均依法告知理由和救济途径。"),
    ("四、政府信息公开行政复议、行政诉讼情况", "本年度因政府信息公开被申请行政复议和提起行政诉讼的情况均如实统计，"
                                       "复议和诉讼结果维持、纠正及其他结果均在统计表中列明。"),
    ("五、存在的主要问题及改进情况", "主要问题是公开内容的及时性和解读的针对性还有不足，部分栏目更新不够及时。"
                                 "下一步将完善信息发布审核机制，加强业务培训，提升公开质量和实效。"),
    ("六、其他需要报告的事项", "本年度未收取信息处理费。本机关将继续做好政府信息公开工作，自觉接受社会监督。"),
) for block in (("h", heading), ("p", text), ("p", text))]


def build_pattern_site(site: Site, place: str = "清河市") -> dict[str, int]:
    """Fill the TRS ``site`` with one column per pager pattern, a 信息公开 platform of department
    sub-sites linked by name, a ``javascript:getMainData('ndbg')`` column and news under /xxgk/.

    Returns how many reports each part holds (the crawl must find them all).
    """
    start = datetime(2024, 1, 5, 9)
    counts: dict[str, int] = {}
    n = 0

    def reports(column: str, agency_prefix: str, how_many: int) -> None:
        nonlocal n
        for i in range(how_many):
            n += 1
            year = 2023 - i % 6
            agency = f"{place}{agency_prefix}{i // 6 + 1}"
            title = f"{agency}{year}年政府信息公开工作年度报告"
            blocks = [("title", title), ("p", f"根据《中华人民共和国政府信息公开条例》，现公布{agency}{year}年度报告。"),
                      *_SECTIONS]
            template = "legacy" if year < 2019 else "2019" if year < 2021 else "2021"
            article = Article(f"pattern-{n}", title, start - timedelta(days=3 * n), column, 7100000 + n, blocks=blocks,
                              report=Report(year, agency, template, "inline"))
            site.add_article(article)
        counts[column] = how_many

    site.neighbours = True  # report pages link the reports before and after them (上一篇 / 下一篇)
    site.add_column(Column("zwgk", "政务公开", "/zwgk/"))
    for key, title, ident, pager, how_many in PAGER_COLUMNS:
        site.add_column(Column(key, title, ident, "zwgk", page_size=3 if pager != "api" else 10, pager=pager))
        reports(key, title[:2] + "办", how_many)
    site.add_column(Column("fjnb", "年报附件", "/zwgk/fjnb/", "zwgk", page_size=10))
    counts["fjnb"] = _file_reports(site, place, start)
    site.add_column(Column("xxgk", "信息公开平台", "/xxgk/", "zwgk", page_size=10))
    site.columns["xxgk"].extra = _platform_links(site)
    for key, name in DEPARTMENT_SITES:
        site.add_column(Column(key, name, f"/xxgk/{key}/", "xxgk", page_size=10, in_nav=False))
        reports(key, name, 3)
    site.add_column(Column("ndbg", "年度报告", "/xxgk/ndbg/", "xxgk", page_size=10, in_nav=False))
    reports("ndbg", "市审计局", 4)
    site.articles[-1].served_as = "application/octet-stream"  # an inline report under a download type
    site.add_column(Column("tzgg", "通知公告", "/xxgk/tzgg/", "xxgk", page_size=10, in_nav=False))
    for i, title in enumerate(NEWS_UNDER_XXGK):
        site.add_article(Article(f"pattern-news-{i}", title, start - timedelta(days=i), "tzgg", 7200000 + i,
                                 blocks=[("title", title), ("p", "为进一步做好政务公开工作，现将有关事项通知如下。")]))
    return counts


def _file_reports(site: Site, place: str, start: datetime) -> int:
    """Reports as PDF files whose URLs hold Chinese characters and a space (``附件/2023年报 终稿.pdf``),
    linked raw from their pages as many CMSs write them."""
    pdf = pdf_bytes("huaian_hongze_district_2024.pdf")
    years = (2023, 2022, 2021)
    for i, year in enumerate(years):
        title = f"{place}人民政府{year}年政府信息公开工作年度报告"
        article = Article(f"pattern-file-{year}", title, start - timedelta(days=40 + i), "fjnb", 7300000 + i,
                          blocks=[("p", f"现将《{title}》予以公布，详见附件。")],
                          report=Report(year, f"{place}人民政府", "2021" if year >= 2021 else "2019", "attachment"))
        article.attachments.append(Attachment(f"{title}.pdf", pdf + f"\n%{year}\n".encode(), "application/pdf",
                                              f"附件/{year}年报 终稿.pdf"))
        site.add_article(article)
    return len(years)


def _platform_links(site: Site) -> str:
    """The platform page's own navigation: departments by name, and a column opened by script."""
    departments = "".join(f'<li><a href="/xxgk/{key}/index.html" target="_blank">{esc(name)}</a></li>'
                          for key, name in DEPARTMENT_SITES)
    return (f'<div class="bm"><h3>部门信息公开</h3><ul>{departments}</ul></div>\n'
            '<div class="ml"><ul><li><a href="javascript:getMainData(\'ndbg\')">年度报告</a></li>'
            '<li><a href="/xxgk/tzgg/index.html">通知公告</a></li></ul></div>\n'
            '<script type="text/javascript">\nfunction getMainData(code) {\n'
            '  window.location.href = "/xxgk/" + code + "/index.html";\n}\n</script>')

