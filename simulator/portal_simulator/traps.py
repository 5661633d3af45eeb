"""What makes real portals hard to crawl, linked from the report column so a crawler meets it.

Each function adds a list entry to a column, the endpoint behind it and a ground-truth
:class:`~portal_simulator.model.Trap` entry saying what a correct crawler does: never fetch
(robots), follow only a bounded number of times (calendars, endless ``?page=N``, repeated
path segments), record as blocked (HTTP 412 JavaScript challenge, WAF interstitial), record a
readable error (HTML served as PDF, truncated PDF, file over the size cap, redirect loop,
timeout) or retry (a flaky 503).
"""
from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qs

from portal_simulator.site import Link, Request, Response, Site

CHALLENGE_412 = """<!DOCTYPE html><html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<meta http-equiv="Pragma" content="no-cache"><meta http-equiv="Expires" content="0">
<script type="text/javascript" r='m'>var $_ts=window['$_ts'];if(!$_ts)$_ts={};$_ts.nsd=48213;
$_ts.cd="qWYrrAkzEqZmEGAlxq3GcGZmrqVqHkq";
$_ts.lcd=function(){var _$k=document.cookie;return _$k;};</script>
<script type="text/javascript" charset="utf-8" src="/4QbVtADbnLVIc/d.FxJzG50F.dfe1675.js" r='m'></script>
</head><body></body></html>"""

WAF_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>网站防火墙</title></head>
<body><div class="main"><h2>网站防火墙</h2>
<p>您的请求带有不合法参数，已被网站管理员设置拦截！</p>
<p>可能原因：您提交的内容包含危险的攻击请求</p>
<p>如何解决：1）检查提交内容；2）如网站托管，请联系空间提供商；3）普通网站访客，请联系网站管理员</p>
<p class="code">拦截编号：waf-4f2a1c9e</p><p>网站防火墙 WAF 安全狗</p></div></body></html>"""

ERROR_AS_PDF = """<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"><title>错误提示</title></head>
<body><div class="error"><h3>对不起，您访问的文件不存在或已被删除！</h3><p>Error 404: 文件未找到</p>
<p><a href="/">返回首页</a></p></div></body></html>"""


@dataclass
class TrapOptions:
    """Knobs tests turn down (or up) with the crawler's own limits.

    ``big_file_mb`` must exceed the crawler's size cap (e.g. ``-s OGI_MAX_DOWNLOAD_MB=1``) and
    ``slow_seconds`` its DOWNLOAD_TIMEOUT (default 40 > Scrapy's 30; tests: timeout 2, slow 5).
    """

    big_file_mb: float = 3.0
    slow_seconds: float = 40.0
    flaky_times: int = 1


def add_link(site: Site, column: str, title: str, href: str | Callable[[], str], date: datetime) -> None:
    site.columns[column].links.append(Link(title, href, date))


def _exact(target: str, make: Callable[[Request], Response]) -> Callable[[Request, str], Response | None]:
    """A handler for one URL (path, and query when ``target`` has one)."""
    path, _, query = target.partition("?")
    wanted = parse_qs(query)

    def handler(request: Request, req_path: str) -> Response | None:
        if req_path != path or (query and parse_qs(request.query_string) != wanted):
            return None
        return make(request)

    return handler


def _prefix(target: str) -> str:
    return target.partition("?")[0]


def _html(html: str) -> Response:
    return Response(body=html.encode("utf-8"), content_type="text/html; charset=utf-8")


def _install(site: Site, prefix: str, handler: Callable[[Request, str], Response | None], *, column: str, title: str,
             url: str, date: datetime, kind: str, expect: str) -> None:
    """Serve ``handler`` below ``prefix``, link ``url`` from the column, and list the trap in the manifest."""
    site.add_handler(prefix, handler)
    add_link(site, column, title, url, date)
    site.traps.append((kind, url, expect))


def robots_disallowed(site: Site, column: str, folder: str, title: str, body: bytes, date: datetime) -> None:
    """A report-looking page under a path robots.txt disallows; it must never be requested."""
    path = f"{folder}t{date:%Y%m%d}_7100001.html"
    site.robots_disallow.append(folder)
    site.forbidden.append(path)
    _install(site, folder, _exact(path, lambda r: Response(body=body)), column=column, title=title, url=path, date=date,
             kind="robots", expect="never_fetched")


def endless_calendar(site: Site, column: str, path: str, date: datetime) -> None:
    """``?month=YYYY-MM`` pages, each linking the next and previous month, forever."""

    def page(request: Request, req_path: str) -> Response | None:
        if req_path != path:
            return None
        year, _, month = (request.param("month") or "2021-01").partition("-")
        y, m = int(year or 2021), int(month or 1)
        nxt = f"{y + m // 12}-{m % 12 + 1:02d}"
        prv = f"{y - (m == 1)}-{(m - 2) % 12 + 1:02d}"
        days = "".join(f'<td><a href="{path}?month={y}-{m:02d}&amp;day={d}">{d}</a></td>'
                       for d in range(1, calendar.monthrange(y, m)[1] + 1))
        html = (f'<html><head><meta charset="utf-8"><title>政务日历 {y}年{m}月</title></head><body>'
                f'<a href="{path}?month={prv}">上一月</a> <a href="{path}?month={nxt}">下一月</a>'
                f"<table><tr>{days}</tr></table></body></html>")
        return _html(html)

    _install(site, path, page, column=column, title="政务公开活动日历", url=f"{path}?month={date:%Y-%m}", date=date,
             kind="calendar", expect="bounded")


def endless_pages(site: Site, column: str, path: str, date: datetime) -> None:
    """``?page=N`` links to ``?page=N+1`` without end and without new content."""

    def page(request: Request, req_path: str) -> Response | None:
        if req_path != path:
            return None
        n = int(request.param("page") or 1) if (request.param("page") or "1").isdigit() else 1
        html = (f'<html><head><meta charset="utf-8"><title>年报检索 第{n}页</title></head><body>'
                f'<p>共找到 0 条结果</p><a href="{path}?page={n + 1}">下一页</a></body></html>')
        return _html(html)

    _install(site, path, page, column=column, title="更多年报检索", url=f"{path}?page=1", date=date,
             kind="endless_page", expect="bounded")


def repeated_segments(site: Site, column: str, folder: str, back: str, date: datetime) -> None:
    """A relative link ``zt/index.html`` on ``.../zt/index.html``: ``/zt/zt/zt/...`` forever."""
    segment = folder.rstrip("/").rsplit("/", 1)[-1]

    def page(request: Request, req_path: str) -> Response | None:
        rest = req_path[len(folder):]
        if rest != "index.html" and not (rest.endswith("index.html") and set(rest[:-10].split("/")) <= {segment, ""}):
            return None
        html = (f'<html><head><meta charset="utf-8"><title>年报专题</title></head><body>'
                f'<a href="{segment}/index.html">专题首页</a> <a href="{back}">返回</a></body></html>')
        return _html(html)

    _install(site, folder, page, column=column, title="政府信息公开年报专题", url=f"{folder}index.html", date=date,
             kind="repeated_segments", expect="bounded")


def challenge_412(site: Site, column: str, path: str, title: str, date: datetime) -> None:
    """Anti-bot layer: HTTP 412 with a JavaScript cookie challenge instead of the page."""
    _install(site, _prefix(path), _exact(path, lambda r: challenge_response()), column=column, title=title, url=path,
             date=date, kind="challenge_412", expect="blocked")


def challenge_response() -> Response:
    return Response(412, CHALLENGE_412.encode("utf-8"), "text/html",
                    headers={"Set-Cookie": "FSSBBIl1UgzbN7NO=5Hq2mv0zYD; Path=/; HttpOnly"})


def waf_interstitial(site: Site, column: str, path: str, title: str, date: datetime) -> None:
    """A WAF's block page, answered with status 200 as many are."""
    _install(site, _prefix(path), _exact(path, lambda r: _html(WAF_PAGE)), column=column, title=title, url=path,
             date=date, kind="waf", expect="blocked")


def bad_file(site: Site, column: str, kind: str, path: str, title: str, date: datetime, response: Response) -> None:
    """A report-looking file link whose answer is broken (``kind`` names how)."""
    _install(site, _prefix(path), _exact(path, lambda r: response), column=column, title=title, url=path, date=date,
             kind=kind, expect="error")


def html_as_pdf() -> Response:
    return Response(body=ERROR_AS_PDF.encode("utf-8"), content_type="application/pdf")


def truncated_pdf(data: bytes) -> Response:
    return Response(body=data[: len(data) * 2 // 5], content_type="application/pdf")


def oversized_pdf(megabytes: float) -> Response:
    size = int(megabytes * 1024 * 1024)
    head = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    return Response(body=head + b"%" + b"0" * (size - len(head) - 2) + b"\n", content_type="application/pdf")


def slow_pdf(data: bytes, seconds: float) -> Response:
    return Response(body=data, content_type="application/pdf", delay=seconds)


def redirect_loop(site: Site, column: str, path_a: str, path_b: str, title: str, date: datetime) -> None:
    """Two URLs redirecting to each other."""
    for src, dst in ((path_a, path_b), (path_b, path_a)):
        site.add_handler(_prefix(src), _exact(src, lambda r, dst=dst: Response(302, headers={"Location": site.url(dst)})))
    add_link(site, column, title, path_a, date)
    site.traps.append(("redirect_loop", path_a, "error"))


def flaky(site: Site, path: str, times: int) -> None:
    """The first ``times`` requests answer 503; a crawler that retries gets the document."""
    site.set_flaky(path, times)
    site.traps.append(("flaky_503", path, "retried"))
