"""Browser fetching as a per-host escalation (issue 14), on loopback portals behind real walls.

Three hosts: one behind the 412 JavaScript challenge (the cookie comes from a server nonce, so
only running the script opens it), one behind a WAF interstitial that wants the cookie of its
first answer, one whose challenge leads to a CAPTCHA. ``ogi crawl`` runs in a subprocess with
the real Chromium; the assertions are on the database, the WARC files and the portal's log.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from portal_simulator import PortalServer
from portal_simulator.builder import Portal
from portal_simulator.challenges import CaptchaWall, JsChallenge, WafCookie, add_walled_site
from warcio.archiveiterator import ArchiveIterator

from domain.config import Settings
from storage.browser_hosts import browser_hosts, due_for_recheck, remember
from storage.db import Database
from storage.models import Fetch, Report, ReportVersion
from web.app import create_app

FAST = ["-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "LOG_LEVEL=INFO", "-s", "DOWNLOAD_TIMEOUT=10",
        "-s", "OGI_BROWSER_WAIT=2"]
WARCIO = str(Path(sys.executable).with_name("warcio"))


@pytest.fixture
def walls() -> Iterator[tuple[Portal, PortalServer]]:
    portal = Portal(sites={})
    add_walled_site(portal, "js", JsChallenge(), "127.0.0.61", link_from=None)
    add_walled_site(portal, "waf", WafCookie(), "127.0.0.62", link_from=None, title="清源县高新区管委会",
                    reports=("pingtan-2024", "hongze-2023"))
    add_walled_site(portal, "captcha", CaptchaWall(), "127.0.0.63", link_from=None, title="清源县林场",
                    reports=("zhongxing-2020",))
    with PortalServer(portal) as server:
        yield portal, server


def crawl(urls: list[str], db_url: str, data_dir: Path, *extra: str, env: dict[str, str] | None = None) -> tuple[dict, str]:
    cmd = [sys.executable, "-m", "ogi", "crawl", *urls, "--db", db_url, "--json", *FAST, *extra]
    done = subprocess.run(cmd, env={**os.environ, "OGI_DATA_DIR": str(data_dir), **(env or {})},
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout), " ".join(done.stderr.split())  # the log, unwrapped


def warc_responses(data_dir: Path) -> list[tuple[str, int, str]]:
    """(URL, status, WARC-Ogi-Fetched-By) of every response record, after ``warcio check`` accepted the files."""
    files = sorted(map(str, (data_dir / "warc").glob("*.warc.gz")))
    check = subprocess.run([WARCIO, "check", *files], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    index = subprocess.run([WARCIO, "index", *files], capture_output=True, text=True)
    assert index.returncode == 0 and index.stdout, index.stderr
    found = []
    for path in files:
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh):
                if record.rec_type == "response":
                    found.append((record.rec_headers.get_header("WARC-Target-URI"), int(record.http_headers.get_statuscode()),
                                  record.rec_headers.get_header("WARC-Ogi-Fetched-By") or ""))
    return found


def by_navigation(server: PortalServer, site: str, path: str) -> list[int]:
    """Statuses of the browser's navigations to ``path`` (Chromium marks them, Scrapy sends no Sec-Fetch-Mode)."""
    return [e.status for e in server.log.entries(site) if e.path == path and e.headers.get("Sec-Fetch-Mode") == "navigate"]


def test_walls_passed_through_a_browser_and_captcha_stays_blocked(walls, db_url, tmp_path):
    portal, server = walls
    truth = portal.manifest()
    summary, log = crawl(list(server.base_urls.values()), db_url, tmp_path)
    assert summary["status"] == "finished"
    hosts = {name: url.split("/")[2].split(":")[0] for name, url in server.base_urls.items()}

    db = Database(db_url)
    with db.session() as s:
        reports = {r.url: r for r in s.scalars(sa.select(Report))}
        versions = {v.report_id: v for v in s.scalars(sa.select(ReportVersion))}
        fetches = s.scalars(sa.select(Fetch).order_by(Fetch.id)).all()
    remembered = browser_hosts(db)

    # The 412 host's reports are archived with the bytes served, their provenance says how they came.
    for expected in truth.reports:
        if expected.site == "captcha":
            assert expected.url not in reports
            continue
        report = reports[expected.url]
        version = versions[report.id]
        assert version.sha256 == expected.sha256 and version.extraction_status == "done", expected.url
        if expected.site == "js":
            assert version.meta["fetched_by"] in {"browser", "browser-cookies"}
            assert "browser" in version.provenance["fetched"]
        else:
            assert "fetched_by" not in version.meta and "fetched" not in version.provenance
    assert by_navigation(server, "js", "/")[-1] == 200  # Chromium ran the script and got the page
    js_report = next(reports[r.url] for r in truth.reports if r.site == "js")
    with TestClient(create_app(Settings(data_dir=str(tmp_path), database_url=db_url), db)) as client:
        assert "获取方式 Fetched: " in client.get(f"/reports/{js_report.id}").text  # the report page says how
    assert "passed in a browser" in log

    # Everything the browser received is in the WARC files, marked; the files validate.
    responses = warc_responses(tmp_path)
    js_home = server.base_urls["js"]
    browser_pages = [(url, status) for url, status, how in responses if how.startswith("browser (Chromium")]
    assert (js_home, 412) in browser_pages and (js_home, 200) in browser_pages
    assert {url for url, _, how in responses if how.startswith("http, with the cookies")} >= {
        r.url for r in truth.reports if r.site == "js" and r.format == "pdf"}
    assert {f.url for f in fetches if f.status is not None} <= {url for url, _, _ in responses}

    # The CAPTCHA host stays blocked with its reason, after one browser visit: no loop, no storm.
    reason = summary["blocked"][hosts["captcha"]]
    assert "CAPTCHA" in reason and "browser did not get past it" in reason
    assert len(by_navigation(server, "captcha", "/")) <= 2  # the challenge, then the CAPTCHA
    assert sum(1 for e in server.log.entries("captcha") if e.path != "/robots.txt") <= 5
    # The WAF host passed with its own cookie, plainly; only the 412 host needs the browser next night.
    assert hosts["waf"] not in summary["blocked"] and hosts["js"] not in summary["blocked"]
    assert list(summary["browser"]) == [hosts["js"]] and "passed in Chromium" in summary["browser"][hosts["js"]]
    assert not [e for e in server.log.entries("waf") if e.headers.get("Sec-Fetch-Mode")]
    assert set(remembered) == {hosts["js"]} and not due_for_recheck(remembered[hosts["js"]], 30)
    db.dispose()


def test_remembered_host_goes_to_the_browser_first_and_is_rechecked_plainly(walls, tmp_path):
    portal, server = walls
    db_url = f"sqlite:///{tmp_path / 'ogi.sqlite3'}"
    js = [server.base_urls["js"]]
    host = js[0].split("/")[2].split(":")[0]
    crawl(js, db_url, tmp_path, "--no-extract")
    server.log.clear()
    summary, _ = crawl(js, db_url, tmp_path, "--no-extract", "--kind", "incremental")
    assert summary["status"] == "finished" and not summary["blocked"]
    first = server.log.entries("js")[1]  # after robots.txt: the home page, straight through Chromium
    assert first.path == "/" and first.headers.get("Sec-Fetch-Mode") == "navigate"

    # A month later the portal has taken its wall down: the host is tried plainly, and forgotten.
    db = Database(db_url)
    remember(db, host, "HTTP 412", today=date.today() - timedelta(days=31))
    portal.sites["js"].wall.lifted = True
    server.log.clear()
    summary, _ = crawl(js, db_url, tmp_path, "--no-extract", "--kind", "incremental")
    assert summary["status"] == "finished" and not summary["blocked"]
    assert not [e for e in server.log.entries("js") if e.headers.get("Sec-Fetch-Mode")]
    assert browser_hosts(db) == {}
    db.dispose()


@pytest.mark.parametrize("off", [["-s", "OGI_BROWSER=off"], ["-s", "OGI_CHROMIUM=/nonexistent/chromium"]],
                         ids=["setting", "no-chromium"])
def test_without_the_browser_the_challenge_host_is_blocked(walls, tmp_path, off):
    portal, server = walls
    db_url = f"sqlite:///{tmp_path / 'ogi.sqlite3'}"
    summary, log = crawl([server.base_urls["js"], server.base_urls["waf"]], db_url, tmp_path, "--no-extract", *off)
    assert summary["status"] == "finished"
    assert ("browser fetching is off: no Chromium at /nonexistent/chromium" in log) == ("OGI_CHROMIUM" in off[1])
    js_host = server.base_urls["js"].split("/")[2].split(":")[0]
    assert "412" in summary["blocked"][js_host]
    assert not [e for e in server.log.entries() if e.headers.get("Sec-Fetch-Mode")]  # no browser at all
    assert summary["reports_new"] == sum(1 for r in portal.manifest().reports if r.site == "waf")
    assert not any(how for _, _, how in warc_responses(tmp_path))


def test_cookies_only_a_browser_may_carry_send_the_pages_through_it(tmp_path):
    """A challenge that also checks the client: the earned cookie fails plainly, so the host's pages go
    through Chromium for the rest of the crawl; its attachments are fetched by the browser, not rendered."""
    portal = Portal(sites={})
    add_walled_site(portal, "js", JsChallenge(browser_only=True), "127.0.0.64", link_from=None)
    db_url = f"sqlite:///{tmp_path / 'ogi.sqlite3'}"
    with PortalServer(portal) as server:
        summary, log = crawl([server.base_urls["js"]], db_url, tmp_path, "--no-extract")
        served = [e for e in server.log.entries() if e.status == 200]
    assert summary["status"] == "finished" and "do not work for plain requests" in log
    db = Database(db_url)
    with db.session() as s:
        recorded = {r.url: r for r in s.scalars(sa.select(Report))}
        metas = {v.report_id: v.meta for v in s.scalars(sa.select(ReportVersion))}
    db.dispose()
    truth = portal.manifest().reports
    assert {r.url for r in truth if r.kind == "attachment"} and set(recorded) == {r.url for r in truth}
    assert all(metas[r.id]["fetched_by"] == "browser" for r in recorded.values())
    files = {r.url.split("/", 3)[3] for r in truth if r.kind == "attachment"}
    assert served and all(e.headers.get("Sec-Fetch-Mode") == ("cors" if e.target.lstrip("/") in files else "navigate")
                          for e in served)  # every page visited in Chromium, every file fetched by it
    assert not [e for e in server.log.entries() if "__ogi_blank__" in e.path]  # the blank page never left the browser
    archived = {(url, status) for url, status, how in warc_responses(tmp_path) if how.startswith("browser (Chromium")}
    assert {(r.url, 200) for r in truth} <= archived
