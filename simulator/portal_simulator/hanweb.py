"""Hanweb JCMS portals: UTF-8, ``/col/colNNNN/index.html`` columns fed by a JavaScript pager.

A column page embeds only its first page of records, inside
``<script type="text/xml"><datastore>...<record><![CDATA[<li>..</li>]]></record>``; the
pager script (jquery.jpage) fetches the rest from ``/module/web/jpage/dataproxy.jsp`` with
``startrecord``/``endrecord``/``perpage`` in the query and ``columnid``, ``unitid``,
``webid``... as query or form parameters, answering the same datastore XML. Articles are
``/art/2021/1/20/art_1234_567890.html``; attachments are served by the extension-less
``/module/download/downfile.jsp?classid=0&filename=...`` with the real name only in
Content-Disposition (RFC 5987 ``filename*``, or raw GBK bytes in ``filename=``).
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from urllib.parse import quote

from portal_simulator.model import Article, Attachment
from portal_simulator.render import esc, word_body
from portal_simulator.site import Column, Request, Response, Site

DATAPROXY = "/module/web/jpage/dataproxy.jsp"
DOWNFILE = "/module/download/downfile.jsp"

_PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<meta http-equiv="X-UA-Compatible" content="IE=edge">
<meta name="SiteName" content="{site}">
<meta name="SiteDomain" content="www.{code}.gov.cn">
<meta name="SiteIDCode" content="{code}">
{meta}<title>{title}</title>
<link rel="stylesheet" href="/images/{webid}/css/common.css">
<script type="text/javascript" src="/module/jslib/jquery/jquery.js"></script>
</head>
<body>
<div id="barrierfree_container">
<div class="header"><a href="/index.html" class="logo">{site}</a>
<ul class="nav">{nav}</ul></div>
<div class="container">
{crumbs}
{main}
</div>
<div class="footer">主办单位：{site}办公室　网站标识码：{code}　浙ICP备12001234号　浙公网安备 33018302000123号</div>
</div>
<script type="text/javascript" src="/script/0/1806251539187891.js"></script>
</body>
</html>
"""

_JPAGE = """<script language="javascript" src="/module/jslib/jquery/jpage/jquery.jpage.js"></script>
<script type="text/javascript">
$(document).ready(function() {{
  $('#{col}').jpage({{
    dataStore: dataStore, perPage: {per_page}, totalRecord: {total}, groupSize: 3,
    proxyUrl: '{proxy}', barPosition: 'bottom', dataBefore: '<ul class="list">', dataAfter: '</ul>',
    ajaxParam: {{col: 1, appid: 1, webid: {webid}, path: '/', columnid: {col}, sourceContentType: 1,
                unitid: '{unitid}', webname: '{site}', permissiontype: 0}}
  }});
}});
</script>"""


class HanwebSite(Site):
    family = "hanweb"
    encoding = "utf-8"

    def __init__(self, name: str, title: str, address: str = "127.0.0.1", *, code: str = "3301830001",
                 webid: str = "33", unitid: str = "5678") -> None:
        super().__init__(name, title, address)
        self.code, self.webid, self.unitid = code, webid, unitid
        self.add_handler(DATAPROXY, self._dataproxy)

    # --- URLs --------------------------------------------------------------------------
    def assign_paths(self, article: Article) -> None:
        d = article.published
        if not article.path:
            article.path = f"/art/{d.year}/{d.month}/{d.day}/art_{self.columns[article.column].ident}_{article.doc_id}.html"
        for att in article.attachments:
            att.path = att.path or f"{DOWNFILE}?classid=0&filename={att.slug}"

    @staticmethod
    def column_path(column: Column) -> str:
        return f"/col/col{column.ident}/index.html"

    # --- pages -------------------------------------------------------------------------
    def render(self) -> Iterable[tuple[str, Response]]:
        yield "/index.html", self._page(self.title, self._home(), crumbs="")
        for column in self.columns.values():
            yield self.column_path(column), self._column_page(column)
        for article in self.articles:
            if article.gone:
                continue
            yield article.path, self._article(article)
            for att in article.attachments:
                yield att.path, self._download(att, article)

    def _page(self, title: str, main: str, *, crumbs: str, meta: str = "", modified: datetime | None = None) -> Response:
        nav = '<li><a href="/index.html">首页</a></li>' + "".join(
            f'<li><a href="{self.column_path(c)}">{esc(c.title)}</a></li>' for c in self.columns.values() if c.parent is None)
        html = _PAGE.format(site=esc(self.title), code=self.code, webid=self.webid, meta=meta, title=esc(title),
                            nav=nav, crumbs=crumbs, main=main)
        return Response(body=html.encode("utf-8"), content_type="text/html;charset=UTF-8", last_modified=modified)

    def _crumbs(self, column: Column | None) -> str:
        trail = [f'<a href="{self.column_path(c)}">{esc(c.title)}</a>' for c in self.ancestry(column)]
        return '<div class="bt-position">您当前的位置：<a href="/index.html">首页</a> &gt; ' + " &gt; ".join(trail) + "</div>"

    def _home(self) -> str:
        links = "".join(f'<li><a href="{self.column_path(c)}" target="_blank">{esc(c.title)}</a></li>'
                        for c in self.columns.values())
        return f'<div class="home-columns"><ul>{links}</ul></div>'

    @staticmethod
    def record(title: str, href: str, date: datetime) -> str:
        return (f'<li><a href="{esc(href)}" title="{esc(title)}" target="_blank">{esc(title)}</a>'
                f"<span>{date:%Y-%m-%d}</span></li>")

    def _records(self, column: Column) -> list[str]:
        return [self.record(t, href, d) for t, href, d, _ in self.column_entries(column)]

    def _column_page(self, column: Column) -> Response:
        records = self._records(column)
        first = "\n".join(f"<record><![CDATA[\n{r}\n]]></record>" for r in records[:column.page_size])
        nextgroup = (f'<a href="{DATAPROXY}?page=1&amp;webid={self.webid}&amp;path=/&amp;columnid={column.ident}'
                     f'&amp;unitid={self.unitid}&amp;webname={quote(self.title)}&amp;permissiontype=0"></a>')
        children = [c for c in self.columns.values() if c.parent == column.key]
        sub = "".join(f'<li><a href="{self.column_path(c)}">{esc(c.title)}</a></li>' for c in children)
        main = (f'<div class="col-title">{esc(column.title)}</div>\n'
                + (f'<ul class="sub-columns">{sub}</ul>\n' if sub else "")
                + f'<div id="{column.ident}"><script type="text/xml"><datastore>\n'
                f"<nextgroup><![CDATA[{nextgroup}]]></nextgroup>\n<recordset>\n{first}\n</recordset>\n"
                f"</datastore></script></div>\n"
                + _JPAGE.format(col=column.ident, per_page=column.page_size, total=len(records), proxy=DATAPROXY,
                                webid=self.webid, unitid=self.unitid, site=esc(self.title)))
        meta = f'<meta name="ColumnName" content="{esc(column.title)}">\n'
        return self._page(column.title, main, crumbs=self._crumbs(column), meta=meta)

    def _article(self, article: Article) -> Response:
        column = self.columns[article.column]
        meta = (f'<meta name="ColumnName" content="{esc(column.title)}">\n'
                f'<meta name="ColumnType" content="{esc(column.title)}">\n'
                f'<meta name="ArticleTitle" content="{esc(article.title)}">\n'
                f'<meta name="PubDate" content="{article.published:%Y-%m-%d %H:%M}">\n'
                f'<meta name="ContentSource" content="{esc(self.title)}办公室">\n')
        atts = "".join(f'<p><a href="{esc(a.path)}" target="_blank">{esc(a.filename)}</a></p>' for a in article.attachments)
        main = (f'<table width="100%" id="article"><tr><td class="title">{esc(article.title)}</td></tr>\n'
                f'<tr><td class="info">发布日期：{article.published:%Y-%m-%d}　信息来源：{esc(self.title)}办公室　'
                f'浏览次数：<span id="hits"></span></td></tr>\n'
                f'<tr><td id="zoom">\n{word_body(article.blocks)}\n</td></tr>\n'
                + (f'<tr><td class="att"><p>附件：</p>{atts}</td></tr>\n' if atts else "") + "</table>")
        return self._page(article.title, main, crumbs=self._crumbs(column), meta=meta, modified=article.published)

    @staticmethod
    def _download(att: Attachment, article: Article) -> Response:
        if att.disposition == "gbk":
            # Old Hanweb versions write the GBK bytes straight into the header; http.server sends
            # header text as Latin-1, so these code points go out as exactly those bytes.
            name = att.filename.encode("gbk").decode("latin-1")
            disposition = f'attachment; filename="{name}"'
        else:
            disposition = f"attachment; filename*=UTF-8''{quote(att.filename)}"
        return Response(body=att.data, content_type=att.content_type, last_modified=article.published,
                        headers={"Content-Disposition": disposition})

    # --- the pager's data proxy ---------------------------------------------------------
    def _dataproxy(self, request: Request, path: str) -> Response | None:
        if path != DATAPROXY:
            return None
        column = next((c for c in self.columns.values() if c.ident == request.param("columnid")), None)
        if column is None:
            return Response(body=b'<?xml version="1.0" encoding="UTF-8"?><datastore><totalrecord>0</totalrecord>'
                                 b"<recordset></recordset></datastore>", content_type="text/xml;charset=UTF-8")
        records = self._records(column)
        per_page = _int(request.param("perpage"), column.page_size)
        start = max(1, _int(request.param("startrecord"), 1))
        end = _int(request.param("endrecord"), start + 3 * per_page - 1)
        body = "".join(f"<record><![CDATA[\n{r}\n]]></record>\n" for r in records[start - 1:end])
        xml = (f'<?xml version="1.0" encoding="UTF-8"?><datastore><totalrecord>{len(records)}</totalrecord>'
               f"<totalpage>{-(-len(records) // per_page)}</totalpage><recordset>\n{body}</recordset></datastore>")
        return Response(body=xml.encode("utf-8"), content_type="text/xml;charset=UTF-8")


def _int(value: str, default: int) -> int:
    try:
        return int(value)
    except ValueError:
        return default
