"""Withdrawal that is definite (issue 14): a report removed from its column whose URL then answers
404 is withdrawn by the next plain ``ogi crawl``, even though that crawl met faults (a hub answering
500, another timing out) that keep it from proving absence by the listings; a moved report stays
current; the rest stay current."""
from __future__ import annotations

import sqlalchemy as sa
import yaml
from portal_simulator import PortalServer, build_site
from portal_simulator.site import Response, error_page
from test_crawl_e2e import crawl

from storage.db import Database
from storage.models import ChangeEvent, CrawlRun, Report


def _source(tmp_path, urls: list[str]) -> dict[str, str]:
    sources = tmp_path / "sources.yaml"
    sources.write_text(yaml.safe_dump({"sources": [{
        "name": "qingyuan", "title": "清源县人民政府", "province": "浙江省", "city": "杭州市", "county": "清源县",
        "start_urls": urls, "allowed_domains": sorted({u.split("/")[2].split(":")[0] for u in urls}),
    }]}, allow_unicode=True), encoding="utf-8")
    return {"OGI_SOURCES_FILE": str(sources)}


def test_removed_report_withdrawn_by_a_plain_crawl_with_faults(db_url, tmp_path):
    portal = build_site(families=("trs",), traps_on=False, addresses={"trs": "127.0.0.7"})
    with PortalServer(portal) as server:
        env = _source(tmp_path, list(server.base_urls.values()))
        first = crawl([], db_url, tmp_path, "--source", "qingyuan", env=env)
        assert first["reports_new"] == len(portal.manifest().reports)

        site = portal.sites["trs"]
        portal.remove_report("pingtan-2017")  # off the column, its page 404
        portal.move_report("xintong-2020")  # new URL, old one 404
        site.add_handler("/zwgk/zfxxgk/zfxxgkzn/", lambda request, path: error_page(500))  # a hub that worked yesterday
        site.add_handler("/zwgk/index.html", lambda request, path: Response(body=b"<html></html>", delay=3))  # timeout
        server.log.clear()
        second = crawl([], db_url, tmp_path, "--source", "qingyuan", env=env)
        truth = portal.manifest()

    db = Database(db_url)
    with db.session() as s:
        reports = {r.title: r for r in s.scalars(sa.select(Report))}
        run = s.scalars(sa.select(CrawlRun).order_by(CrawlRun.id.desc())).first()
        gone = next(r for r in reports.values() if r.url == next(c.old_url for c in portal.changes if c.kind == "removed"))
        withdrawn = {r.url for r in reports.values() if r.status == "withdrawn"}
        current = {r.url for r in reports.values() if r.status == "current"}
        event = s.scalars(sa.select(ChangeEvent).where(ChangeEvent.report_id == gone.id, ChangeEvent.kind == "withdrawn")).one()
    db.dispose()
    assert run.stats["listing_errors"] >= 1  # the listings cannot prove absence ...
    assert second["reports_withdrawn"] == 1 and withdrawn == {gone.url}  # ... the 404 can
    assert gone.withdrawn_at is not None and event.details == {"reason": "http_404", "url": gone.url}
    moved = next(c.old_url for c in portal.changes if c.kind == "moved")
    assert moved in current and len(current) == len(truth.reports)  # the moved report (known by its first URL) stays current
    assert run.stats["rechecked"] >= 1
