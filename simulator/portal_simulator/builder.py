"""Build the simulated portals from the real documents, and change them between two crawls.

:func:`build_site` makes a :class:`Portal`: a TRS WCM county site (GBK) and a Hanweb JCMS
district site (UTF-8), each with a 政府信息公开年报 column three clicks from the home page,
look-alike noise, traps, and optionally a host that answers every request with an anti-bot
challenge. The :class:`Portal` mutation methods are "night two" of issue 5: publish new
reports, revise one (new bytes at the same URL), replace an attachment (new URL), remove one
(404 or just gone from the column) and move one to a new URL.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from portal_simulator import traps
from portal_simulator.corpus import ReportDoc, load_page_text, load_seed, office_bytes, pdf_bytes
from portal_simulator.hanweb import DOWNFILE, HanwebSite
from portal_simulator.model import Article, Attachment, Manifest, Report
from portal_simulator.noise import notices
from portal_simulator.office_files import report_docx
from portal_simulator.pagers import build_pattern_site
from portal_simulator.render import esc
from portal_simulator.site import Column, Request, Response, Site
from portal_simulator.trs import TrsSite

PINGTAN = "平潭综合实验区管委会"
CONTENT_TYPES = {"pdf": "application/pdf", "doc": "application/msword", "wps": "application/kswps",
                 "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}


@dataclass(frozen=True)
class Source:
    """A real report and how a site publishes it."""

    key: str
    load: str  # "seed:<name>" | "page:<name>" | "pdf:<file>" | "office:<file>"
    agency: str
    published: str
    fmt: str = "html"  # html (inline) | pdf | docx | doc | wps
    disposition: str = "utf8"
    title: str = ""  # for files whose text is not loaded (PDF, DOC)
    year: int = 0


SOURCES = {s.key: s for s in (
    Source("zhongxing-2020", "seed:000_754b2c1a6681c1c1", "寿县众兴镇人民政府", "2021-01-18 10:00"),
    Source("taiping-2020", "seed:002_ff5e69430f7bf06e", "长春市双阳区太平镇人民政府", "2021-01-20 09:00", "docx"),
    Source("xintong-2020", "office:xintong_2020.doc", "杭州市富阳区新桐乡人民政府", "2021-01-25 09:00", "doc",
           title="富阳区新桐乡2020年政府信息公开工作年度报告", year=2020),
    Source("pingtan-2017", "page:pingtan_2017_page", PINGTAN, ""),
    Source("pingtan-2019", "page:pingtan_2019_page", PINGTAN, ""),
    Source("pingtan-2020", "office:pingtan_2020.wps", PINGTAN, "2021-03-05 08:58", "wps",
           title="平潭综合实验区2020年度政府信息公开工作年度报告", year=2020),
    Source("pingtan-2021", "page:pingtan_2021_page", PINGTAN, ""),
    Source("pingtan-2023", "page:pingtan_2023_page", PINGTAN, "", "docx"),
    Source("pingtan-2024", "page:pingtan_2024_page", PINGTAN, ""),
    Source("pingtan-2025", "page:pingtan_2025_page", PINGTAN, ""),
    Source("hongze-2023", "pdf:huaian_hongze_district_2023.pdf", "淮安市洪泽区人民政府", "2024-01-20 10:00", "pdf",
           title="淮安市洪泽区人民政府2023年政府信息公开工作年度报告", year=2023),
    Source("hongze-2024", "pdf:huaian_hongze_district_2024.pdf", "淮安市洪泽区人民政府", "2025-01-21 15:30", "pdf", "gbk",
           title="淮安市洪泽区人民政府2024年政府信息公开工作年度报告", year=2024),
    Source("huaian-2024", "pdf:huaian_city_gov_2024.pdf", "淮安市人民政府", "2025-01-24 09:00", "pdf",
           title="淮安市人民政府2024年政府信息公开工作年度报告", year=2024),
)}
# Published on the first night; NIGHT_TWO are what add_report() publishes next, in order.
FIRST_NIGHT = {
    "trs": ("zhongxing-2020", "taiping-2020", "xintong-2020", "pingtan-2017", "pingtan-2019", "pingtan-2020", "hongze-2023"),
    "hanweb": ("pingtan-2023", "pingtan-2024", "pingtan-2025", "hongze-2024"),
}
NIGHT_TWO = {"trs": ("pingtan-2021",), "hanweb": ("huaian-2024",)}
FLAKY = {"trs": "pingtan-2019", "hanweb": "pingtan-2024"}
DEFAULT_ADDRESSES = {"trs": "127.0.0.2", "hanweb": "127.0.0.3", "blocked": "127.0.0.4"}


@dataclass(frozen=True)
class Change:
    kind: str  # added | revised | attachment_replaced | removed | unlisted | moved
    key: str
    old_url: str | None
    new_url: str | None


class BlockedSite(Site):
    """A host entirely behind an anti-bot layer: every request gets the 412 challenge."""

    family = "blocked"

    def render(self) -> Iterable[tuple[str, Response]]:  # nothing to render
        return iter(())

    def assign_paths(self, article: Article) -> None:
        return None

    def respond(self, request: Request) -> Response:
        return traps.challenge_response()


@dataclass
class Portal:
    """The simulated sites plus what tests need: manifest, mutations, change log."""

    sites: dict[str, Site]
    docs: dict[str, ReportDoc] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    pending: dict[str, list[str]] = field(default_factory=dict)
    _next_id: int = 9000001

    def manifest(self) -> Manifest:
        current, withdrawn, not_reports, trap_list, forbidden = [], [], [], [], []
        for site in self.sites.values():
            cur, wd = site.manifest_reports()
            current += cur
            withdrawn += wd
            not_reports += site.manifest_not_reports()
            trap_list += site.manifest_traps()
            forbidden += [site.url(p) for p in site.forbidden]
        return Manifest(current, withdrawn, not_reports, trap_list, forbidden)

    def site_of(self, key: str) -> Site:
        return next(s for s in self.sites.values() if any(a.key == key for a in s.articles))

    def _url(self, site: Site, article: Article) -> str:
        site.static()
        return site.url(article.path if article.report.kind == "inline" else article.attachments[0].path)

    def _fresh_id(self) -> int:
        self._next_id += 1
        return self._next_id

    # --- night two ---------------------------------------------------------------------
    def add_report(self, site_name: str, key: str | None = None) -> str:
        """Publish the next unpublished report on ``site_name``; returns its key."""
        key = key or self.pending[site_name].pop(0)
        site = self.sites[site_name]
        article = _report_article(site, SOURCES[key], self, doc_id=self._fresh_id())
        site.add_article(article)
        self.changes.append(Change("added", key, None, self._url(site, article)))
        return key

    def revise_report(self, key: str, note: str = "（2021年4月1日更正：修订了部分统计数据。）") -> None:
        """New bytes at the same URL (a silent correction)."""
        site, article = self._find(key)
        article.revision += 1
        if article.report.kind == "inline":
            self.docs[key] = self.docs[key].revised(note)
            article.blocks = list(self.docs[key].blocks)
        else:
            att = article.attachments[0]
            att.data = _revised_file(att, self.docs.get(key), note, article.revision)
            if key in self.docs:
                self.docs[key] = self.docs[key].revised(note)
        site.invalidate()
        url = self._url(site, article)
        self.changes.append(Change("revised", key, url, url))

    def replace_attachment(self, key: str) -> None:
        """The report file is replaced by a new file under a new URL; the old URL answers 404."""
        site, article = self._find(key)
        old = self._url(site, article)
        att = article.attachments[0]
        site.mark_gone(att.path)
        article.revision += 1
        article.attachments[0] = Attachment(att.filename, _revised_file(att, self.docs.get(key), "（替换件）", article.revision),
                                            att.content_type, _slug(site, article, att.format, salt=article.revision),
                                            att.disposition)
        site.invalidate()
        self.changes.append(Change("attachment_replaced", key, old, self._url(site, article)))

    def remove_report(self, key: str, how: str = "404") -> None:
        """``how``: "404" / "410" (page and files gone, off the list) or "unlisted" (only off the list)."""
        site, article = self._find(key)
        old = self._url(site, article)
        if how == "unlisted":
            article.listed = False
        else:
            article.gone = int(how)
            for path in [article.path] + [a.path for a in article.attachments]:
                site.mark_gone(path, article.gone)
        site.invalidate()
        self.changes.append(Change("unlisted" if how == "unlisted" else "removed", key, old, None))

    def move_report(self, key: str, redirect: bool = False) -> None:
        """The report gets a new URL (new document id); the old one is 404, or 301 with ``redirect``."""
        site, article = self._find(key)
        old_paths = [article.path] + [a.path for a in article.attachments]
        old = self._url(site, article)
        article.doc_id = self._fresh_id()
        article.path = ""
        for att in article.attachments:
            att.slug, att.path = _slug(site, article, att.format, salt=article.doc_id), ""
        site.invalidate()
        site.static()
        new_paths = [article.path] + [a.path for a in article.attachments]
        for old_path, new_path in zip(old_paths, new_paths, strict=True):
            if redirect:
                site.redirect(old_path, new_path)
            else:
                site.mark_gone(old_path)
        self.changes.append(Change("moved", key, old, self._url(site, article)))

    def _find(self, key: str) -> tuple[Site, Article]:
        site = self.site_of(key)
        return site, site.article(key)


def build_site(families: tuple[str, ...] = ("trs", "hanweb"), *, traps_on: bool = True, blocked_host: bool = True,
               addresses: dict[str, str] | None = None, options: traps.TrapOptions | None = None) -> Portal:
    """The standard test/demo portal.

    Each site gets a loopback address of its own (default 127.0.0.2, .3, .4; ``addresses``
    maps site names to others): crawlers key politeness and anti-bot blocking by host name,
    so sites sharing an address would share the blocked host's fate.
    """
    addresses = {**DEFAULT_ADDRESSES, **(addresses or {})}
    options = options or traps.TrapOptions()
    portal = Portal(sites={})
    for family in families:
        site = _skeleton(family, addresses[family])
        portal.sites[family] = site
        for n, key in enumerate(FIRST_NIGHT[family]):
            site.add_article(_report_article(site, SOURCES[key], portal, doc_id=_base_id(family) + 11 * n))
        _add_notices(site, portal)
        portal.pending[family] = list(NIGHT_TWO[family])
    if traps_on and blocked_host:
        portal.sites["blocked"] = BlockedSite("blocked", "安全防护站点", addresses["blocked"])
    for family in families:
        if traps_on:
            _add_traps(portal, portal.sites[family], options)
    return portal


def build_pattern_portal(address: str = "127.0.0.5") -> Portal:
    """One TRS host made of the pagination and navigation patterns of real portals
    (:mod:`portal_simulator.pagers`); its home page links only 政务公开."""
    site = TrsSite("patterns", "清河市人民政府", address)
    site.home_items = 0
    build_pattern_site(site)
    return Portal(sites={"patterns": site})


def _base_id(family: str) -> int:
    return 3456780 if family == "trs" else 567890


def _skeleton(family: str, address: str) -> Site:
    """Home -> 政务公开 -> 政府信息公开 -> 政府信息公开年报, plus noise columns."""
    if family == "trs":
        site: Site = TrsSite("trs", "清源县人民政府", address)
        idents = {"zwgk": "/zwgk/", "zfxxgk": "/zwgk/zfxxgk/", "nb": "/zwgk/zfxxgk/zfxxgknb/", "zn": "/zwgk/zfxxgk/zfxxgkzn/",
                  "fzzf": "/zwgk/fzzfjs/", "czyjs": "/zwgk/czyjs/", "zfgzbg": "/zwgk/zfgzbg/", "xwzx": "/xwzx/",
                  "news": "/xwzx/zwyw/"}
    else:
        site = HanwebSite("hanweb", "云溪区人民政府", address)
        idents = {"zwgk": "1201", "zfxxgk": "1228", "nb": "1234", "zn": "1229", "fzzf": "1240", "czyjs": "1241",
                  "zfgzbg": "1242", "xwzx": "1250", "news": "1251"}
    for key, title, parent in (("zwgk", "政务公开", None), ("zfxxgk", "政府信息公开", "zwgk"),
                               ("nb", "政府信息公开年报", "zfxxgk"), ("zn", "政府信息公开指南", "zfxxgk"),
                               ("fzzf", "法治政府建设", "zwgk"), ("czyjs", "财政预决算", "zwgk"),
                               ("zfgzbg", "政府工作报告", "zwgk"), ("xwzx", "新闻中心", None), ("news", "政务要闻", "xwzx")):
        site.add_column(Column(key, title, idents[key], parent, page_size=4 if key == "nb" else 10))
    return site


def _load(source: Source) -> ReportDoc | None:
    kind, _, name = source.load.partition(":")
    if kind == "seed":
        return load_seed(name, source.agency, source.published)
    if kind == "page":
        return load_page_text(name, source.agency)
    return None


def _report_article(site: Site, source: Source, portal: Portal, *, doc_id: int) -> Article:
    doc = _load(source)
    if doc is not None:
        portal.docs[source.key] = doc
    title = doc.title if doc else source.title
    year = doc.year if doc else source.year
    published = datetime.fromisoformat(source.published) if source.published else doc.published
    template = "legacy" if year < 2019 else ("2019" if year < 2021 else "2021")
    article = Article(source.key, title, published, "nb", doc_id, source=source.load,
                      report=Report(year, source.agency, template, "inline" if source.fmt == "html" else "attachment"))
    if source.fmt == "html":
        article.blocks = list(doc.blocks)
        return article
    article.blocks = [("p", f"现将《{title}》予以公布，详见附件。"), ("p", f"{source.agency}"),
                      ("p", f"{published.year}年{published.month}月{published.day}日")]
    data = report_docx(doc) if source.fmt == "docx" else _file_bytes(source)
    article.attachments.append(Attachment(f"{title}.{source.fmt}", data, _content_type(site, source),
                                          _slug(site, article, source.fmt), source.disposition))
    return article


def _content_type(site: Site, source: Source) -> str:
    """Hanweb's download servlet sends generic types; the real type is in the file name only."""
    if site.family == "hanweb":
        return "application/x-msdownload" if source.disposition == "gbk" else "application/octet-stream"
    return CONTENT_TYPES[source.fmt]


def _file_bytes(source: Source) -> bytes:
    kind, _, name = source.load.partition(":")
    return pdf_bytes(name) if kind == "pdf" else office_bytes(name)


def _slug(site: Site, article: Article, fmt: str, salt: int = 0) -> str:
    digest = int(hashlib.sha256(f"{article.key}/{salt}".encode()).hexdigest(), 16)
    if site.family == "trs":  # P0 + date + 12 digits, beside the article
        return f"P0{article.published:%Y%m%d}{digest % 10**12:012d}.{fmt}"
    return f"{digest % 16**16:016x}"  # Hanweb: an opaque token, no extension


def _revised_file(att: Attachment, doc: ReportDoc | None, note: str, revision: int) -> bytes:
    """New bytes for a revised file: a regenerated DOCX, or an incremental-update-style tail."""
    if att.format == "docx" and doc is not None:
        return report_docx(doc.revised(note))
    return att.data + f"\n%revision {revision}\n".encode()


def _add_notices(site: Site, portal: Portal) -> None:
    place = "清源县" if site.family == "trs" else "云溪区"
    for n, notice in enumerate(notices(place)):
        article = Article(f"{site.family}-notice-{n}", notice.title, notice.published, notice.column,
                          _base_id(site.family) + 500 + n,
                          blocks=[("title", notice.title)] + [("p", p) for p in notice.paragraphs])
        if notice.budget_pdf:
            article.attachments.append(Attachment(f"{notice.title}.pdf", office_bytes("budget_2021.pdf"),
                                                  "application/pdf", _slug(site, article, "pdf")))
        site.add_article(article)


def _add_traps(portal: Portal, site: Site, options: traps.TrapOptions) -> None:
    """Put every trap in the report column, spread over its list pages."""
    d = datetime.fromisoformat
    col = site.columns["nb"]
    folder = col.ident if site.family == "trs" else "/module/xxgk/"
    sample = pdf_bytes("huaian_hongze_district_2023.pdf")
    draft = "2022年度政府信息公开工作年度报告（内部校对稿）"
    page_body = f'<html><head><meta charset="utf-8"><title>校对稿</title></head><body><h1>{esc(draft)}</h1></body></html>'
    traps.robots_disallowed(site, "nb", f"{folder}nbbf/", draft,
                            page_body.encode("utf-8"), d("2023-01-10 09:00"))
    traps.endless_calendar(site, "nb", "/calendar/index.jsp", d("2021-01-05 09:00"))
    traps.endless_pages(site, "nb", f"{folder}search.html", d("2020-12-30 09:00"))
    column_page = f"{col.ident}index.html" if site.family == "trs" else HanwebSite.column_path(col)
    traps.repeated_segments(site, "nb", f"{folder}zt/", column_page, d("2020-12-20 09:00"))
    traps.waf_interstitial(site, "nb", f"{folder}202003/t20200301_7200002.html", "关于年报栏目调整的说明", d("2020-03-01 09:00"))
    if site.family == "trs":
        traps.challenge_412(site, "nb", f"{folder}202102/t20210201_7200001.html", "政府信息公开年报图解", d("2021-02-01 09:00"))
        files = (("html_as_pdf", "清源县审计局2020年度政府信息公开工作年度报告", traps.html_as_pdf()),
                 ("truncated_pdf", "清源县统计局2020年度政府信息公开工作年度报告", traps.truncated_pdf(sample)),
                 ("oversized", "清源县档案馆2020年度政府信息公开工作年度报告（扫描件）",
                  traps.oversized_pdf(options.big_file_mb)),
                 ("slow", "清源县林业局2020年度政府信息公开工作年度报告", traps.slow_pdf(sample, options.slow_seconds)))
        for n, (kind, title, response) in enumerate(files, start=1):
            traps.bad_file(site, "nb", kind, f"{folder}202101/P020210126{n:012d}.pdf", title, d(f"2021-01-26 1{n}:00"), response)
        traps.redirect_loop(site, "nb", f"{folder}202101/t20210127_7300001.html", f"{folder}202101/t20210127_7300002.html",
                            "清源县水利局2020年度政府信息公开工作年度报告", d("2021-01-27 10:00"))
        if "blocked" in portal.sites:
            blocked = portal.sites["blocked"]

            def href() -> str:  # resolved once the host is served
                return blocked.url("/col/col100/index.html")

            traps.add_link(site, "nb", "清源县经济开发区政府信息公开年报", href, d("2021-01-29 09:00"))
            site.traps.append(("challenge_412", href, "blocked"))
    else:
        traps.challenge_412(site, "nb", "/module/xxgk/tree.jsp?area=330183", "政府信息公开年报（按部门）", d("2021-02-01 09:00"))
        traps.bad_file(site, "nb", "html_as_pdf", f"{DOWNFILE}?classid=0&filename=0f5d3c2b1a987654",
                       "云溪区审计局2020年度政府信息公开工作年度报告.pdf", d("2021-01-26 10:00"),
                       Response(body=traps.ERROR_AS_PDF.encode("utf-8"), content_type="text/html;charset=UTF-8"))
    site.assign_all_paths()  # so the flaky report's URL is known
    report = site.article(FLAKY[site.family])
    traps.flaky(site, report.path if report.report.kind == "inline" else report.attachments[0].path, options.flaky_times)
