"""The benchmark portal: a few thousand pages over ~20 hosts (127.0.0.2, 127.0.0.3, ...).

Each host is a county site of one family (alternating TRS WCM / Hanweb JCMS) whose
政府信息公开年报 column lists the reports of every department and township for several
years, as real county columns do: that is where a report crawler spends its time. Report
pages reuse the real report bodies (rendered once and shared), so page sizes and markup are
realistic; a few reports are PDF attachments. No traps: the benchmark compares crawl speed.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from portal_simulator.builder import Portal, _add_notices, _skeleton, _slug
from portal_simulator.corpus import ReportDoc, load_page_text, load_seed, pdf_bytes
from portal_simulator.model import Article, Attachment, Report
from portal_simulator.render import word_body

DEPARTMENTS = (
    "发展和改革局", "教育局", "科学技术局", "工业和信息化局", "公安局", "民政局", "司法局", "财政局",
    "人力资源和社会保障局", "自然资源和规划局", "生态环境分局", "住房和城乡建设局", "交通运输局", "水利局",
    "农业农村局", "商务局", "文化旅游体育局", "卫生健康委员会", "退役军人事务局", "应急管理局", "审计局",
    "市场监督管理局", "统计局", "医疗保障局", "林业局", "城市管理局", "数据资源管理局", "信访局",
    "城关镇人民政府", "人民政府办公室",
)
YEARS = (2018, 2019, 2020, 2021)
PLACES = ("东安", "西平", "南丰", "北川", "青田", "白河", "红安", "黄龙", "绿春", "紫阳")


def _bodies() -> list[str]:
    """Rendered bodies of the real reports, shared by all report pages of the benchmark."""
    docs: list[ReportDoc] = [
        load_seed("000_754b2c1a6681c1c1", "寿县众兴镇人民政府", "2021-01-18 10:00"),
        load_seed("003_7f1b1d18961b41ce", "杭州市富阳区新桐乡人民政府", "2021-01-25 09:00"),
        load_page_text("pingtan_2021_page", "平潭综合实验区管委会"),
        load_page_text("pingtan_2023_page", "平潭综合实验区管委会"),
        load_page_text("pingtan_2017_page", "平潭综合实验区管委会"),
    ]
    return [word_body(doc.blocks[1:]) for doc in docs]


def build_scale_site(hosts: int = 20, *, first_address: int = 2, departments: int = len(DEPARTMENTS),
                     pdf_every: int = 40, pager: str = "js", newest_first: bool = False) -> Portal:
    """``hosts`` sites on 127.0.0.<first_address> ...; about 150 pages each by default.

    ``pager`` is the TRS hosts' list pager (:mod:`portal_simulator.pagers`); ``newest_first``
    has the home page and the 政务公开 hub link the column's first page of reports, as many
    real portals do (the column's first page then holds nothing a crawler has not seen).
    """
    bodies = _bodies()
    pdf = pdf_bytes("huaian_hongze_district_2024.pdf")
    portal = Portal(sites={})
    for h in range(hosts):
        family = "trs" if h % 2 == 0 else "hanweb"
        site = _skeleton(family, f"127.0.0.{first_address + h}")
        lap = str(h // len(PLACES) + 1) if h >= len(PLACES) else ""  # 清源县2, ... once the names run out
        place = PLACES[h % len(PLACES)] + ("县" if family == "trs" else "区") + lap
        site.name, site.title = f"{family}-{h + 1:02d}", f"{place}人民政府"
        site.columns["nb"].page_size = 15
        if family == "trs":
            site.columns["nb"].pager = pager
        if newest_first:
            site.home_items = 15
            site.columns["zwgk"].feature = "nb"
        n = 0
        for year in YEARS:
            for dept in DEPARTMENTS[:departments]:
                n += 1
                title = f"{place}{dept}{year}年政府信息公开工作年度报告"
                published = datetime(year + 1, 1, 10, 9) + timedelta(hours=7 * n)
                template = "legacy" if year < 2019 else ("2019" if year < 2021 else "2021")
                doc_id = (3400000 if family == "trs" else 560000) + 7 * n
                kind = "attachment" if n % pdf_every == 0 else "inline"
                article = Article(f"{site.name}-{n}", title, published, "nb", doc_id,
                                  report=Report(year, f"{place}{dept}", template, kind))
                if kind == "inline":
                    article.blocks = [("title", title), ("html", bodies[n % len(bodies)])]
                else:
                    article.blocks = [("p", f"现将《{title}》予以公布，详见附件。")]
                    # Distinct reports never share bytes (archives deduplicate by SHA-256).
                    data = pdf + f"\n%{site.name}-{n}\n".encode()
                    article.attachments.append(Attachment(f"{title}.pdf", data, "application/pdf",
                                                          _slug(site, article, "pdf")))
                site.add_article(article)
        _add_notices(site, portal)
        portal.sites[site.name] = site
    return portal
