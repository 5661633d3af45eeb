"""TRS WCM portals: GBK pages, directory columns, pagination only in ``createPageHTML(...)``.

URL shapes follow real TRS sites: a column is a directory whose list pages are ``index.html``,
``index_1.html`` ... (the page count exists only as the first argument of the JavaScript call
``createPageHTML(6, 0, "index", "html")``); articles are ``./202101/t20210118_3456789.html``
beside the list; attachments ``./P0<20 digits>.pdf`` beside the article. Pages declare
``charset=gb2312`` but are encoded GBK, and the page footer uses characters (堃, 镕) that only
GBK has, which is what real TRS sites do.
"""
from __future__ import annotations

import math
import posixpath
from collections.abc import Iterable
from datetime import datetime

from portal_simulator.model import Article
from portal_simulator.pagers import API_PATH, api_handler, pager_html, pages_in_html
from portal_simulator.render import esc, word_body
from portal_simulator.site import Column, Response, Site

_PAGE = """<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=gb2312" />
<meta http-equiv="X-UA-Compatible" content="IE=edge" />
<meta name="SiteName" content="{site}" />
<meta name="SiteDomain" content="www.{code}.gov.cn" />
<meta name="SiteIDCode" content="{code}" />
{meta}<title>{title}</title>
<link href="/images/style.css" rel="stylesheet" type="text/css" />
<script type="text/javascript" src="/images/jquery.min.js"></script>
</head>
<body>
<div class="top"><div class="logo"><a href="/index.html">{site}</a></div>
<div class="nav"><ul>{nav}</ul></div></div>
<div class="main">
{crumbs}
{main}
</div>
<div class="footer"><p>主办：{site}办公室　承办：{site}数据资源管理局　联系人：王堃　电话：0554-4021234</p>
<p>网站标识码：{code}　皖ICP备05001234号-1　皖公网安备 34112302000123号　技术支持：镕信网络科技有限公司</p></div>
</body>
</html>
"""

class TrsSite(Site):
    family = "trs"
    encoding = "gbk"

    def __init__(self, name: str, title: str, address: str = "127.0.0.1", *, code: str = "3411230001") -> None:
        super().__init__(name, title, address)
        self.code = code
        self.add_handler(API_PATH, api_handler(self, self.column_entries))

    # --- URLs --------------------------------------------------------------------------
    def assign_paths(self, article: Article) -> None:
        folder = f"{self.columns[article.column].ident}{article.published:%Y%m}/"
        if not article.path:
            article.path = f"{folder}t{article.published:%Y%m%d}_{article.doc_id}.html"
        for att in article.attachments:
            att.path = att.path or posixpath.join(posixpath.dirname(article.path), att.slug)

    def href(self, article: Article) -> str:
        """Column lists link articles relatively: ``./202101/t20210118_3456789.html``."""
        folder = self.columns[article.column].ident
        return "./" + article.path[len(folder):] if article.path.startswith(folder) else article.path

    # --- pages -------------------------------------------------------------------------
    def render(self) -> Iterable[tuple[str, Response]]:
        yield "/index.html", self._page(self.title, self._home(), crumbs="")
        for column in self.columns.values():
            yield from self._column_pages(column)
        for article in self.articles:
            if article.gone:
                continue
            page = self._article(article)
            page.content_type = article.served_as or page.content_type
            yield article.path, page
            for att in article.attachments:
                yield att.path, Response(body=att.data, content_type=att.content_type, last_modified=article.published)

    def _page(self, title: str, main: str, *, crumbs: str, meta: str = "", modified: datetime | None = None) -> Response:
        nav = "".join(f'<li><a href="{c.ident}index.html">{esc(c.title)}</a></li>'
                      for c in self.columns.values() if c.parent is None)
        html = _PAGE.format(site=esc(self.title), code=self.code, meta=meta, title=esc(title),
                            nav='<li><a href="/index.html">首页</a></li>' + nav, crumbs=crumbs, main=main)
        # GBK with numeric references for anything GBK lacks, as TRS's publisher does.
        return Response(body=html.encode("gbk", "xmlcharrefreplace"), content_type="text/html", last_modified=modified)

    def _crumbs(self, column: Column | None) -> str:
        trail = [f'<a href="{c.ident}index.html">{esc(c.title)}</a>' for c in self.ancestry(column)]
        return '<div class="position">当前位置：<a href="/index.html">首页</a> &gt; ' + " &gt; ".join(trail) + "</div>"

    def _home(self) -> str:
        boxes = []
        for column in self.columns.values():
            entries = self.column_entries(column)[:self.home_items]
            if not entries:
                continue
            items = "".join(f'<li><a href="{esc(self._absolute(column, href))}" target="_blank" title="{esc(t)}">{esc(t)}</a>'
                            f"<span>{d:%m-%d}</span></li>" for t, href, d, _ in entries)
            boxes.append(f'<div class="box"><h3><a href="{column.ident}index.html">{esc(column.title)}</a>'
                         f'<a class="more" href="{column.ident}index.html">更多&gt;&gt;</a></h3><ul>{items}</ul></div>')
        return '<div class="banner"><img src="/images/banner.jpg" alt="" /></div>\n' + "\n".join(boxes)

    @staticmethod
    def _absolute(column: Column, href: str) -> str:
        return column.ident + href[2:] if href.startswith("./") else href

    def _column_pages(self, column: Column) -> Iterable[tuple[str, Response]]:
        children = [c for c in self.columns.values() if c.parent == column.key and c.in_nav]
        entries = self.column_entries(column)
        count = max(1, math.ceil(len(entries) / column.page_size))
        sub = ""
        if children:
            sub = '<div class="subnav"><ul>' + "".join(
                f'<li><a href="{c.ident}index.html">{esc(c.title)}</a></li>' for c in children) + "</ul></div>\n"
        sub += column.extra + self._featured(column)
        for n in range(pages_in_html(column, len(entries))):
            chunk = entries[n * column.page_size:(n + 1) * column.page_size]
            items = "\n".join(f'<li><a href="{esc(href)}" target="_blank" title="{esc(t)}">{esc(t)}</a>'
                              f'<span class="date">{d:%Y-%m-%d}</span></li>' for t, href, d, _ in chunk)
            main = (f'{sub}<div class="list"><h2>{esc(column.title)}</h2>\n<ul>\n{items}\n</ul>\n'
                    f"{pager_html(column, n, count)}</div>")
            name = "index.html" if n == 0 else f"index_{n}.html"
            newest = chunk[0][2] if chunk else None
            meta = f'<meta name="ColumnName" content="{esc(column.title)}" />\n'
            yield column.ident + name, self._page(column.title, main, crumbs=self._crumbs(column), meta=meta, modified=newest)

    def _featured(self, column: Column) -> str:
        """A hub's box of the newest entries of another column (政务公开 showing the latest reports)."""
        if not column.feature:
            return ""
        featured = self.columns[column.feature]
        items = "".join(f'<li><a href="{esc(self._absolute(featured, href))}" title="{esc(t)}">{esc(t)}</a></li>'
                        for t, href, _, _ in self.column_entries(featured)[:featured.page_size])
        return f'<div class="latest"><h3>{esc(featured.title)}</h3><ul>{items}</ul></div>\n'

    def _article(self, article: Article) -> Response:
        column = self.columns[article.column]
        meta = (f'<meta name="ColumnName" content="{esc(column.title)}" />\n'
                f'<meta name="ColumnType" content="{esc(column.title)}" />\n'
                f'<meta name="ArticleTitle" content="{esc(article.title)}" />\n'
                f'<meta name="PubDate" content="{article.published:%Y-%m-%d %H:%M}" />\n'
                f'<meta name="ContentSource" content="{esc(self.title)}办公室" />\n')
        atts = ""
        if article.attachments:
            atts = '<div class="fj"><p>附件：</p>' + "".join(
                f'<p><a href="./{esc(a.slug)}" OLDSRC="/protect/{esc(a.slug)}">{esc(a.filename)}</a></p>'
                for a in article.attachments) + "</div>"
        main = (f'<div class="article"><h1>{esc(article.title)}</h1>\n'
                f'<div class="info">发布时间：{article.published:%Y-%m-%d %H:%M}　来源：{esc(self.title)}办公室　'
                f'浏览次数：<script language="javascript">document.write(getClickCount({article.doc_id}));</script></div>\n'
                f'<div class="TRS_Editor"><div class="Custom_UnionStyle">\n{word_body(article.blocks)}\n</div></div>\n'
                f"{atts}{self._neighbours(article)}</div>")
        return self._page(article.title, main, crumbs=self._crumbs(column), meta=meta, modified=article.published)

    def _neighbours(self, article: Article) -> str:
        """上一篇 / 下一篇: the article's neighbours in its column, linked by their titles."""
        if not self.neighbours:
            return ""
        entries = [e for e in self.column_entries(self.columns[article.column]) if e[3] is not None]
        at = next(i for i, e in enumerate(entries) if e[3] is article)
        column = self.columns[article.column]
        links = [f'<p>{label}：<a href="{esc(self._absolute(column, entries[i][1]))}">{esc(entries[i][0])}</a></p>'
                 for label, i in (("上一篇", at - 1), ("下一篇", at + 1)) if 0 <= i < len(entries)]
        return '<div class="neighbours">' + "".join(links) + "</div>" if links else ""
