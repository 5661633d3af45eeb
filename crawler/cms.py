"""Pagination of the two CMS families behind most Chinese government portals.

Neither family puts its further listing pages in plain links:

* TRS WCM writes them from JavaScript: ``createPageHTML(6, 0, "index", "html")`` means
  ``index.html`` plus ``index_1.html`` ... ``index_5.html`` in the same folder (newer
  templates: ``createPageHTML('page_div', 6, 1, 'index', 'html', 88)``, or variables).
* Hanweb JCMS embeds the first records as XML in ``<script type="text/xml"><datastore>``
  and loads the rest from ``/module/web/jpage/dataproxy.jsp?startrecord=N&endrecord=M
  &perpage=K`` with the column's parameters (columnid, unitid, webid, path ...), which
  the page carries in its ``<nextgroup>`` link.
"""
from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

MAX_LISTING_PAGES = 200

_CREATE_PAGE = re.compile(r"createPageHTML\s*\(([^()]*)\)")
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
    """The listing pages a TRS ``createPageHTML(...)`` call stands for (except the current one).

    Page 0 is ``<prefix>.<ext>``, page n is ``<prefix>_n.<ext>``, all beside ``page_url``.
    """
    m = _CREATE_PAGE.search(text)
    if not m:
        return []
    args = _args(m.group(1), dict(_VAR.findall(text)))
    numbers = [int(a) for a in args if a.isdigit()]
    words = [a for a in args if a and not a.isdigit() and re.fullmatch(r"[\w.-]+", a)]
    if len(numbers) < 2 or len(words) < 2:
        return []
    count, current = numbers[0], numbers[1]
    prefix, ext = words[-2], words[-1]
    count = min(count, MAX_LISTING_PAGES)
    names = [f"{prefix}.{ext}" if n == 0 else f"{prefix}_{n}.{ext}" for n in range(count) if n != current]
    return [urljoin(page_url, name) for name in names]


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
