"""Finding the annual-report columns and the reports on a portal never seen before.

Every link is scored on its anchor text, ``title`` attribute and URL. Portals differ in
layout but not in vocabulary: the reports live in a column called 政府信息公开年报 /
信息公开年报 / 年度报告, reached from 政府信息公开 / 政务公开 / 信息公开目录 hubs, often once
per department and township. So a focused crawl follows report links first, then columns,
then hubs, and ignores the news, services and interaction parts of the site.
"""
from __future__ import annotations

import heapq
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import lxml.html

from crawler.attachments import looks_like_attachment
from crawler.classify import is_report_title, maybe_report_title
from crawler.scope import PAGE_PARAMS
from domain.chinese import normalize_label

REPORT, ATTACHMENT, COLUMN, HUB, PAGINATION = "report", "attachment", "column", "hub", "pagination"
FOLLOW_THRESHOLD = 10

_COLUMN_WORDS = ("信息公开年报", "公开年报", "年度报告", "工作年报", "年报")
_HUB_WORDS = (
    ("政府信息公开", 30), ("信息公开目录", 30), ("法定主动公开", 25), ("主动公开", 15), ("政务公开", 25),
    ("信息公开", 20), ("公开目录", 20), ("部门信息公开", 30), ("乡镇信息公开", 30), ("镇街信息公开", 30),
    ("部门", 10), ("乡镇", 10), ("街道", 10), ("镇(街道)", 10), ("机构", 5),
)
_NEGATIVE = (
    "新闻", "要闻", "动态", "图片", "视频", "招聘", "招标", "采购", "留言", "信箱", "互动", "访谈", "登录",
    "注册", "旅游", "英文", "English", "无障碍", "关怀", "邮箱", "网站地图", "RSS", "预算", "决算",
    "法治政府", "政府工作报告", "工作要点", "解读", "征集", "办事", "服务", "天气", "日历", "上一月", "下一月",
    "上一年", "下一年", "上月", "下月", "打印", "关闭", "收藏", "分享",
)
_NEGATIVE_WORDS = re.compile("|".join(map(re.escape, _NEGATIVE)))
# 首页 is left out: in a breadcrumb it is the site's home, and a listing's first page is where we came from.
_PAGINATION_TEXT = re.compile(r"^(下一页|下页|尾页|末页|上一页|上页|后页|前页|>|>>|»|\d{1,4})$")
# A page number of 1 is a column's own address (list.jsp?cid=12&page=1), not a further page.
_PAGE_PARAM = rf"[?&](?:{'|'.join(sorted(PAGE_PARAMS))})="
_PAGINATION_URL = re.compile(rf"(index|list|default)_\d+\.s?html?$|{_PAGE_PARAM}(?!0*1(?:&|$))\d+", re.I)
# Articles (TRS t20230101_123.html, Hanweb art_12_345.html, content_123, dated folders): a path
# naming a disclosure section (/xxgk/, xxgknb) does not make a news item a hub or a column.
_ARTICLE_URL = re.compile(r"/t\d{8}_\d+\.|/art_\d+_\d+\.|content_\d+|/detail|/\d{4}/\d{1,2}/\d{1,2}/|[/_-]\d{5,}\.s?html?$",
                          re.I)
MAX_HUB_LABEL = 20  # characters: a column's or department's name; longer labels are article titles
# A department or township by its name alone (市发展改革委, 县教育局, 城关镇): on a disclosure
# platform each has its own sub-site holding its own reports.
_DEPARTMENT = re.compile(r"^[\u4e00-\u9fff（）()]{2,16}(?:委员会|管委会|委|局|办公室|办|政府|中心|院|署|镇|乡|街道|所|队|馆|社)$")
_JS_CALL = re.compile(r"""^javascript:\s*(\w+)\s*\(\s*['"]([\w./-]+)['"]\s*\)""", re.I)
_COLUMN_URL = re.compile(r"(?:^|[/_.-])(zfxxgknb|xxgknb|gknb|ndbg|nb|zwgknb|gkndbg|nianbao)(?:[/_.-]|$)", re.I)
_HUB_URL = re.compile(r"(?:^|[/_.-])(zfxxgk|xxgk|zwgk|gkml|zfxxgkml|xxgkml|fdzdgknr|bmxxgk|xzxxgk)(?:[/_.-]|$)", re.I)
_SKIP_SCHEMES = ("javascript:", "mailto:", "tel:", "#", "data:")
_PLAIN_PATH = re.compile(r"(?!.*//)(?!(?:.*/)?\.\.?(?:/|$))[^:?#;\\\x00-\x20]*")


@dataclass(frozen=True)
class Link:
    url: str
    text: str
    title: str = ""

    @property
    def label(self) -> str:
        """What the link says: the title attribute when the anchor text is truncated or empty."""
        text = self.text.strip()
        if self.title and (not text or text.endswith(("...", "…")) or len(self.title) > len(text)):
            return self.title.strip()
        return text


@dataclass(frozen=True)
class Scored:
    link: Link
    kind: str
    score: int


def extract_links(html: str | lxml.html.HtmlElement, base_url: str, scripts: str = "") -> list[Link]:
    """Every ``<a href>`` (and ``<area>``) as an absolute URL with its text and title.

    A ``javascript:getMainData('ndbg')`` link counts when ``scripts`` (the page's script text)
    defines that function and builds a URL from its argument (:func:`js_call_url`).
    """
    doc = lxml.html.fromstring(html) if isinstance(html, str) else html
    base = doc.xpath("string(//base/@href)") or base_url
    join = _joiner(urljoin(base_url, base))
    links = []
    for a in doc.iter("a", "area"):
        href = (a.get("href") or "").strip()
        if href.lower().startswith("javascript:") and scripts:
            href = js_call_url(href, scripts)
        if not href or href.lower().startswith(_SKIP_SCHEMES):
            continue
        url = join(href).split("#", 1)[0]
        if not url.startswith(("http://", "https://")):
            continue
        links.append(Link(url, " ".join(a.text_content().split()), (a.get("title") or "").strip()))
    return links


def js_call_url(href: str, scripts: str) -> str:
    """The URL a ``javascript:f('arg')`` link opens, from ``function f(x)``'s string
    concatenation around ``x`` in the page's scripts ('' when it cannot be told)."""
    call = _JS_CALL.match(href)
    if not call:
        return ""
    name, arg = call.groups()
    definition = re.search(rf"function\s+{name}\s*\(\s*(\w+)[^)]*\)\s*\{{(.{{0,600}}?)\}}", scripts, re.S)
    if not definition:
        return ""
    param, body = definition.groups()
    built = re.search(rf"""(['"])([^'"\s]*)\1\s*\+\s*{param}\b(?:\s*\+\s*(['"])([^'"\s]*)\3)?""", body)
    return built.group(2) + arg + (built.group(4) or "") if built else ""


def department_hub(link: Link, page_is_platform: bool) -> Scored | None:
    """A department's or township's sub-site linked by its name alone, on a disclosure platform page."""
    if not page_is_platform:  # most pages: no label work per link
        return None
    if _DEPARTMENT.match(normalize_label(link.label)) and not _ARTICLE_URL.search(urlsplit(link.url).path):
        return Scored(link, HUB, FOLLOW_THRESHOLD + 5)
    return None


def _joiner(base: str) -> Callable[[str], str]:
    """``urljoin`` against ``base``, with a shortcut for plain paths: on a page with thousands
    of links, urljoin was most of the parsing time. A path with no scheme, query, parameters,
    fragment, backslash, space or control character, empty or dot segment resolves, exactly
    as urljoin would resolve it, to the site root or the base's folder followed by the path."""
    root, folder = urljoin(base, "/"), urljoin(base, "./")

    def join(href: str) -> str:
        if not _PLAIN_PATH.fullmatch(href):
            return urljoin(base, href)
        return root + href[1:] if href.startswith("/") else folder + href

    return join


def score_link(link: Link) -> Scored:
    """Classify and score one link (no per-site knowledge; higher is more promising)."""
    label = normalize_label(link.label)
    attachment = looks_like_attachment(link.url)
    # Every report title names 信息公开 / 政务公开: the title tests are skipped for the rest.
    # (A report title is also a "maybe" one, so this is is_report_title or (maybe and not negative).)
    if "公开" in label and maybe_report_title(label) and (not _negative(label) or is_report_title(label)):
        return Scored(link, ATTACHMENT if attachment else REPORT, 100)
    if attachment:
        return Scored(link, ATTACHMENT, 5)
    if _PAGINATION_TEXT.match(label) or (not label and _PAGINATION_URL.search(link.url)):
        return Scored(link, PAGINATION, 5)
    if _negative(label):
        return Scored(link, "", -10)
    path = urlsplit(link.url).path
    if _ARTICLE_URL.search(path) or len(label) > MAX_HUB_LABEL:  # a news item or notice, not a section
        return Scored(link, "", 0)
    if any(word in label for word in _COLUMN_WORDS) and not re.search(r"\d{4}", label):
        return Scored(link, COLUMN, 60 + (10 if _COLUMN_URL.search(path) else 0))
    score = max((points for word, points in _HUB_WORDS if word in label), default=0)
    if _COLUMN_URL.search(path):
        return Scored(link, COLUMN, max(score, 40))
    if _HUB_URL.search(path):
        score += 10
    return Scored(link, HUB if score else "", score)


_PAGE_NUMBER = re.compile(rf"(?:index|list|default)_(\d+)\.s?html?$|{_PAGE_PARAM}(\d+)(?:&|$)", re.I)


def page_number(url: str) -> int | None:
    """The 1-based page of a listing URL (``index_4.html`` is page 5, ``?page=5`` page 5), or None."""
    m = _PAGE_NUMBER.search(url)
    if not m:
        return None
    return int(m.group(1)) + 1 if m.group(1) is not None else int(m.group(2))


def score_links(links: list[Link], platform: bool = False) -> list[Scored]:
    """:func:`score_link` for a page's links; on a disclosure platform page (``platform``),
    links named after a department or township that score nothing else are hubs."""
    scored = []
    for link in links:
        s = score_link(link)
        if platform and 0 <= s.score < FOLLOW_THRESHOLD and s.kind != PAGINATION:
            s = department_hub(link, platform) or s
        scored.append(s)
    return scored


def _rank(s: Scored) -> tuple[int, int]:
    """Links titled as reports first; then pagination (the rest of a listing) and document
    links (a report page's files); then the rest by score."""
    group = 0 if s.score >= 100 else 1 if s.kind in (PAGINATION, ATTACHMENT) else 2
    return group, -s.score


def best_links(scored: list[Scored], limit: int) -> tuple[list[Scored], int]:
    """At most ``limit`` of a page's links, the best-ranked, in page order; and how many were dropped.

    A real column page has hundreds of links; one with 100,000 would otherwise flood the
    frontier. Choosing is O(n log limit), so the cap costs nothing on a hostile page.
    """
    if not limit or len(scored) <= limit:
        return scored, 0
    keep = heapq.nsmallest(limit, range(len(scored)), key=lambda i: (*_rank(scored[i]), i))
    return [scored[i] for i in sorted(keep)], len(scored) - limit


def _negative(label: str) -> bool:
    return bool(_NEGATIVE_WORDS.search(label))
