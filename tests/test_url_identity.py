"""One URL, one key (issue 14): links with Chinese characters and spaces (``附件/2023年报 终稿.pdf``)
are requested, recorded and looked up in one form, w3lib's ``safe_url_string`` (what Scrapy
puts on the wire), so a nightly re-crawl gets 304 for them and no document has two keys."""
from __future__ import annotations

from collections import Counter

import sqlalchemy as sa
from portal_simulator import PortalServer, build_pattern_portal
from test_crawl_e2e import crawl

from crawler.scope import canonical_url
from storage.db import Database
from storage.models import Document, FrontierEntry, Report


def test_canonical_url_is_what_scrapy_sends():
    raw = "http://a/zwgk/附件/2023年报 终稿.pdf#page=2"
    assert canonical_url(raw) == "http://a/zwgk/%E9%99%84%E4%BB%B6/2023%E5%B9%B4%E6%8A%A5%20%E7%BB%88%E7%A8%BF.pdf"
    assert canonical_url(canonical_url(raw)) == canonical_url(raw)


def test_chinese_file_urls_get_304_on_the_next_night_under_one_key(db_url, tmp_path):
    portal = build_pattern_portal("127.0.0.6")
    with PortalServer(portal) as server:
        truth = portal.manifest()
        files = {r.url for r in truth.reports if r.kind == "attachment"}
        assert files and all("%E9%99%84%E4%BB%B6" in url for url in files)  # 附件/ ... as sent on the wire
        crawl(list(server.base_urls.values()), db_url, tmp_path)
        site = portal.sites["patterns"]
        for article in site.articles:  # the pages change (not their files): the files come from the raw links
            if article.attachments:
                article.blocks.append(("p", "（本页于次日更新了联系方式。）"))
        site.invalidate()
        server.log.clear()
        summary = crawl(list(server.base_urls.values()), db_url, tmp_path, "--kind", "incremental")
        answers = {e.url: e.status for e in server.log.entries() if e.url in files}
    assert answers == dict.fromkeys(files, 304), answers
    assert summary["reports_unchanged"] >= len(files)
    db = Database(db_url)
    with db.session() as s:
        documents = Counter(s.scalars(sa.select(Document.url)))
        frontier = set(s.scalars(sa.select(FrontierEntry.url)))
        reports = set(s.scalars(sa.select(Report.url)))
    db.dispose()
    assert reports == truth.report_urls()
    assert all(documents[url] == 1 for url in files) and files <= frontier
    assert not [url for url in documents if " " in url or "附件" in url]
