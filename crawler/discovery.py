"""Finding the annual-report columns and the reports on a portal never seen before.

Every link is scored on its anchor text, ``title`` attribute and URL. Portals differ in
layout but not in vocabulary: the reports live in a column called 政府信息公开年报 /
信息公开年报 / 年度报告, reached from 政府信息公开 / 政务公开 / 信息公开目录 hubs, often once
per department and township. So a focused crawl follows report links first, then columns,
then hubs, and ignores the news, services and interaction parts of the site.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import lxml.html

from crawler.attachments import looks_like_attachment
from crawler.classify import is_report_title, maybe_report_title
from ogi.chinese import normalize_label

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
_PAGINATION_TEXT = re.compile(r"^(下一页|下页|尾页|末页|上一页|上页|首页|后页|前页|>|>>|»|\d{1,4})$")
_PAGINATION_URL = re.compile(r"(index|list|default)_\d+\.s?html?$|[?&](page|pageNo|pageno|pageIndex|curpage|p|pn)=\d+", re.I)
_COLUMN_URL = re.compile(r"(?:^|[/_.-])(zfxxgknb|xxgknb|gknb|ndbg|nb|zwgknb|gkndbg|nianbao)(?:[/_.-]|$)", re.I)
_HUB_URL = re.compile(r"(?:^|[/_.-])(zfxxgk|xxgk|zwgk|gkml|zfxxgkml|xxgkml|fdzdgknr|bmxxgk|xzxxgk)(?:[/_.-]|$)", re.I)
_SKIP_SCHEMES = ("javascript:", "mailto:", "tel:", "#", "data:")


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


def extract_links(html: str | lxml.html.HtmlElement, base_url: str) -> list[Link]:
    """Every ``<a href>`` (and ``<area>``) as an absolute URL with its text and title."""
    doc = lxml.html.fromstring(html) if isinstance(html, str) else html
    base = doc.xpath("string(//base/@href)") or base_url
    base = urljoin(base_url, base)
    links = []
    for a in doc.iter("a", "area"):
        href = (a.get("href") or "").strip()
        if not href or href.lower().startswith(_SKIP_SCHEMES):
            continue
        url = urljoin(base, href).split("#", 1)[0]
        if not url.startswith(("http://", "https://")):
            continue
        links.append(Link(url, " ".join(a.text_content().split()), (a.get("title") or "").strip()))
    return links


def score_link(link: Link) -> Scored:
    """Classify and score one link (no per-site knowledge; higher is more promising)."""
    label = normalize_label(link.label)
    if is_report_title(label) or (maybe_report_title(label) and not _negative(label)):
        return Scored(link, ATTACHMENT if looks_like_attachment(link.url) else REPORT, 100)
    if looks_like_attachment(link.url):
        return Scored(link, ATTACHMENT, 5)
    if _PAGINATION_TEXT.match(label) or (not label and _PAGINATION_URL.search(link.url)):
        return Scored(link, PAGINATION, 5)
    if _negative(label):
        return Scored(link, "", -10)
    path = urlsplit(link.url).path
    if any(word in label for word in _COLUMN_WORDS) and not re.search(r"\d{4}", label):
        return Scored(link, COLUMN, 60 + (10 if _COLUMN_URL.search(path) else 0))
    score = max((points for word, points in _HUB_WORDS if word in label), default=0)
    if _COLUMN_URL.search(path):
        return Scored(link, COLUMN, max(score, 40))
    if _HUB_URL.search(path):
        score += 10
    return Scored(link, HUB if score else "", score)


def _negative(label: str) -> bool:
    return any(word in label for word in _NEGATIVE)


def is_pagination_url(url: str) -> bool:
    return bool(_PAGINATION_URL.search(url))
