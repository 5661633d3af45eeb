"""Pagination of the two CMS families behind most Chinese government portals.

Neither family puts its further listing pages in plain links:

* TRS WCM writes them from JavaScript: ``createPageHTML(6, 0, "index", "html")`` means
  ``index.html`` plus ``index_1.html`` ... ``index_5.html`` in the same folder (newer
  templates: ``createPageHTML('page_div', 6, 1, 'index', 'html', 88)``, or variables).
  Older templates have no such call: they declare ``var countPage = 56`` and write each
  pager link with ``document.write("index" + "_" + nextPage + ".html")``; some pages define
  ``function createPageHTML(_nPageCount, ...)`` inline before calling it.
* Provincial TRS templates (and others) list page 1 in the HTML and the rest from a JSON
  API their script calls: ``"/api/list?channelId=2031&pageNo=" + pageNo``. The URL is
  rebuilt from the script's string concatenation and its JSON answer read for title/URL
  pairs and a record or page count (:func:`json_api_url`, :func:`json_listing`).
* Hanweb JCMS embeds the first records as XML in ``<script type="text/xml"><datastore>``
  and loads the rest from ``/module/web/jpage/dataproxy.jsp?startrecord=N&endrecord=M
  &perpage=K`` with the column's parameters (columnid, unitid, webid, path ...), which
  the page carries in its ``<nextgroup>`` link.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

from crawler.discovery import Link
from crawler.scope import PAGE_PARAMS

MAX_LISTING_PAGES = 200

_CREATE_PAGE = re.compile(r"(function\s+)?createPageHTML\s*\(([^()]*)\)")
_COUNT_PAGE = re.compile(r"\bcountPage\s*=\s*['\"]?(\d+)")
_CURRENT_PAGE = re.compile(r"\bcurrentPage\s*=\s*['\"]?(\d+)")
# "index" + "_" + nextPage + ".html"  or  "index_" + nextPage + ".html"
_WRITTEN_PAGE = re.compile(r"""([\w.-]+?)_?['"]\s*\+\s*(?:['"]_['"]\s*\+\s*)?\w+\s*\+\s*['"]\.(s?html?)\b""")
_PAGE_VARIABLE = re.compile(rf"^(?:{'|'.join(sorted(PAGE_PARAMS | {'currentpage', 'cur', 'current'}))})$", re.I)
_JS_URL_STRING = re.compile(r"""(['"])((?:https?://|/)[^'"\s<>]*\?[^'"\s<>]*)\1((?:\s*\+\s*(?:[\w.]+|'[^']*'|"[^"]*"))*)""")
_CONCAT_PART = re.compile(r"""\s*\+\s*([\w.]+|'[^']*'|"[^"]*")""")
_TITLE_KEYS = ("title", "doctitle", "name", "subject", "articletitle", "showtitle")
_URL_KEYS = ("url", "link", "href", "docpuburl", "puburl", "path", "linkurl", "docurl", "detailurl")
_TOTAL_KEYS = ("total", "totalcount", "totalrecord", "totalrecords", "recordcount", "count", "totalnum", "totalsize")
_SIZE_KEYS = ("pagesize", "size", "rows", "limit", "perpage")
_PAGES_KEYS = ("totalpage", "totalpages", "pagecount", "pages", "pagetotal")
_VAR = re.compile(r"\b(?:var|let|const)\s+(\w+)\s*=\s*['\"]?(\d+)['\"]?")
_RECORD = re.compile(r"<record>\s*<!\[CDATA\[(.*?)\]\]>\s*</record>", re.S | re.I)
_DATASTORE = re.compile(r"<datastore>(.*?)</datastore>", re.S | re.I)
_NEXTGROUP = re.compile(r"<nextgroup>\s*<!\[CDATA\[.*?href\s*=\s*['\"]([^'\"]+)['\"]", re.S | re.I)
_TOTAL = re.compile(r"<totalrecord>\s*(\d+)\s*</totalrecord>|totalRecord['\"]?\s*[:=]\s*['\"]?(\d+)", re.I)
_PERPAGE = re.compile(r"per_?page['\"]?\s*[:=]\s*['\"]?(\d+)", re.I)
_AJAX_PARAM = re.compile(r"ajaxParam\s*:\s*\{([^{}]*)\}", re.S)
_JS_PAIR = re.compile(r"""['"]?(\w+)['"]?\s*:\s*(?:'([^']*)'|"([^"]*)"|([^,\s}]+))""")
_PROXY_URL = re.compile(r"""proxyUrl\s*:\s*['"]([^'"]+)['"]""")
_DATAPROXY = "/module/web/jpage/dataproxy.jsp"


def _args(call: str, variables: dict[str, str]) -> list[str]:
    args = []
    for raw in call.split(","):
        arg = raw.strip().strip("'\"")
        args.append(variables.get(arg, arg))
    return args


def trs_pages(text: str, page_url: str) -> list[str]:
    """The listing pages a TRS pager stands for (except the current one).

    Page 0 is ``<prefix>.<ext>``, page n is ``<prefix>_n.<ext>``, all beside ``page_url``.
    The pager is a ``createPageHTML(...)`` call (an inline ``function createPageHTML(...)``
    definition is passed over: its arguments are names), else the older ``countPage``
    variable with a ``document.write`` of ``"index" + "_" + n + ".html"``.
    """
    variables = dict(_VAR.findall(text))
    for m in _CREATE_PAGE.finditer(text):
        if m.group(1):  # the definition, not a call
            continue
        args = _args(m.group(2), variables)
        numbers = [int(a) for a in args if a.isdigit()]
        words = [a for a in args if a and not a.isdigit() and re.fullmatch(r"[\w.-]+", a)]
        if len(numbers) >= 2 and len(words) >= 2:
            return _numbered(page_url, numbers[0], numbers[1], words[-2], words[-1])
    count, written = _COUNT_PAGE.search(text), _WRITTEN_PAGE.search(text)
    if count and written:
        current = _CURRENT_PAGE.search(text)
        return _numbered(page_url, int(count.group(1)), int(current.group(1)) if current else 0, *written.groups())
    return []


def _numbered(page_url: str, count: int, current: int, prefix: str, ext: str) -> list[str]:
    names = [f"{prefix}.{ext}" if n == 0 else f"{prefix}_{n}.{ext}" for n in range(min(count, MAX_LISTING_PAGES))
             if n != current]
    return [urljoin(page_url, name) for name in names]


def listing_page_count(text: str) -> int | None:
    """The number of pages a listing says it has (TRS ``countPage``, ``createPageHTML``'s first
    number, 共N页), or None: the bound on following its plain pagination links."""
    m = _COUNT_PAGE.search(text) or re.search(r"共\s*(\d+)\s*页", text)
    if m:
        return int(m.group(1))
    call = next((c for c in _CREATE_PAGE.finditer(text) if not c.group(1)), None)
    numbers = [int(a) for a in _args(call.group(2), dict(_VAR.findall(text))) if a.isdigit()] if call else []
    return numbers[0] if numbers else None


def json_api_url(text: str, page_url: str, page: int = 1) -> str:
    """Page ``page`` of the JSON list API a listing's script calls ('' when there is none).

    The script builds the URL by concatenation (``"/api/list?channelId=" + id + "&pageNo=" +
    pageNo``): numeric variables are resolved from the page, the page variable becomes
    ``page``. Only a URL whose last parameter is a page number qualifies.
    """
    for template in _api_templates(text):
        url = template.replace("\x00", str(page))
        query = parse_qsl(urlsplit(url).query, keep_blank_values=True)
        if query and _PAGE_VARIABLE.match(query[-1][0]) and query[-1][1] == str(page):
            return urljoin(page_url, url)
    return ""


def _api_templates(text: str) -> Iterator[str]:
    """String concatenations that start with a URL with a query, the page variable as NUL."""
    variables = dict(_VAR.findall(text))
    for m in _JS_URL_STRING.finditer(text):
        parts, page_seen = [m.group(2)], False
        for part in _CONCAT_PART.findall(m.group(3)):
            if part[0] in "'\"":
                parts.append(part[1:-1])
            elif _PAGE_VARIABLE.match(part.rsplit(".", 1)[-1]) and not page_seen:
                parts.append("\x00")
                page_seen = True
            elif part in variables:
                parts.append(variables[part])
            else:
                break
        if page_seen:
            yield "".join(parts)


def next_api_url(url: str, page: int) -> str:
    """The same API URL for another page (its last parameter is the page number)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query[-1] = (query[-1][0], str(page))
    return parts._replace(query=urlencode(query)).geturl()


def api_page(url: str) -> int | None:
    """The page number of an API URL (its last parameter, as :func:`json_api_url` requires it),
    whatever the API calls it (``pageNo``, ``currentPage``, ``cur`` ...)."""
    query = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    return int(query[-1][1]) if query and query[-1][1].isdigit() else None


def is_api_listing(content_type: str, body: bytes) -> bool:
    """A JSON answer (by type, or by its first byte when served as text)."""
    return "json" in content_type or body.lstrip()[:1] in (b"{", b"[")


def json_listing(text: str, api_url: str) -> tuple[list[Link], int | None]:
    """The (title, URL) entries of a JSON list answer and how many pages the list has (None: unknown).

    Any object with a title-like and a URL-like key is an entry, however deep; the page count
    comes from a page-count key, else a record count divided by the URL's page size.
    """
    try:
        data = json.loads(text)
    except ValueError:
        return [], None
    links, counts = [], {}
    for obj in _objects(data):
        lower = {str(k).lower(): v for k, v in obj.items()}
        title = next((lower[k] for k in _TITLE_KEYS if isinstance(lower.get(k), str)), "")
        href = next((lower[k] for k in _URL_KEYS if isinstance(lower.get(k), str) and lower[k]), "")
        if title and href:
            links.append(Link(urljoin(api_url, href.strip()), " ".join(re.sub(r"<[^>]+>", "", title).split())))
        for key in (*_TOTAL_KEYS, *_PAGES_KEYS):
            if key not in counts and str(lower.get(key, "")).isdigit():
                counts[key] = int(lower[key])
    pages = next((counts[k] for k in _PAGES_KEYS if k in counts), None)
    total = next((counts[k] for k in _TOTAL_KEYS if k in counts), None)
    if pages is None and total is not None:
        size = next((int(v) for k, v in parse_qsl(urlsplit(api_url).query) if k.lower() in _SIZE_KEYS and v.isdigit()), 0)
        pages = math.ceil(total / size) if size else None
    return links, pages


def _objects(data: Any) -> Iterator[dict[str, Any]]:
    if isinstance(data, dict):
        yield data
        for value in data.values():
            yield from _objects(value)
    elif isinstance(data, list):
        for value in data:
            yield from _objects(value)


def hanweb_records(text: str) -> list[str]:
    """The HTML snippets of the records in a Hanweb datastore (page or dataproxy answer)."""
    return _RECORD.findall(text)


def hanweb_next_urls(text: str, page_url: str) -> list[str]:
    """The dataproxy URLs that fetch the records after those embedded in a Hanweb page.

    Parameters come from the page: the ``<nextgroup>`` link and the jpage call's
    ``ajaxParam`` (columnid, unitid, webid, path ...), the record count (``<totalrecord>`` or
    ``totalRecord:``) and ``perPage`` (default 15). Records are requested in groups of three
    pages, as jpage itself does.
    """
    store = _DATASTORE.search(text)
    total = _TOTAL.search(text)
    params = _hanweb_params(text)
    if not store or not total or "columnid" not in params:
        return []
    have = len(hanweb_records(store.group(1)))
    total_records = int(total.group(1) or total.group(2))
    perpage_m = _PERPAGE.search(text)
    perpage = int(perpage_m.group(1)) if perpage_m else 15
    group = max(perpage, 1) * 3
    proxy = _PROXY_URL.search(text)
    path = proxy.group(1) if proxy else _DATAPROXY
    urls = []
    start = have + 1
    while start <= total_records and len(urls) < MAX_LISTING_PAGES:
        end = min(start + group - 1, total_records)
        query = urlencode([("startrecord", start), ("endrecord", end), ("perpage", perpage), *params.items()])
        urls.append(urljoin(page_url, f"{path}?{query}"))
        start = end + 1
    return urls


def _hanweb_params(text: str) -> dict[str, str]:
    """Column parameters from the ``<nextgroup>`` link, overridden by the jpage ``ajaxParam``."""
    params: dict[str, str] = {}
    nextgroup = _NEXTGROUP.search(text)
    if nextgroup:
        query = urlsplit(nextgroup.group(1).replace("&amp;", "&")).query
        params.update(parse_qsl(query, keep_blank_values=True))
    ajax = _AJAX_PARAM.search(text)
    if ajax:
        for key, *values in _JS_PAIR.findall(ajax.group(1)):
            params[key] = next((v for v in values if v), "")
    for key in ("startrecord", "endrecord", "perpage", "page"):
        params.pop(key, None)
    return params


def is_hanweb_dataproxy(url: str) -> bool:
    return _DATAPROXY in urlsplit(url).path
