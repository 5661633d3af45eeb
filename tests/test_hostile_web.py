"""Hostile input to the web UI and API (issue 16 A), on SQLite and PostgreSQL through the real app.

Malformed parameters are a 4xx with the error envelope (an HTML error page for pages), never a
plain-text 500; stored URLs with a script scheme are never links; every response carries the
security headers; attachment names with control characters are served; no URL echoes the
``Host`` header; HEAD answers on every GET route; wrong admin tokens are rate-limited; and
``ogi serve --db`` finds the blobs of that archive wherever it is started from.
"""
from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from portal_simulator import PortalServer, TrapOptions, build_site

from domain.config import Settings
from storage.blobs import BlobStore, sha256_hex
from storage.db import Database
from storage.models import Blob, ReportVersion
from tests.seeding import Seeded, seed_archive
from web.app import create_app

HUGE = "9" * 23
AUTH = {"Authorization": "Bearer s3cret-admin"}

API_CASES = [
    ("GET", "/api/reports", {"q": "掌政\x00"}),
    ("GET", "/api/reports", {"q": "\x00"}),
    ("GET", "/api/reports", {"region": "安徽省\x00"}),
    ("GET", "/api/reports", {"agency": "\x00"}),
    ("GET", "/api/reports", {"failing": "R1\x00"}),
    ("GET", "/api/reports", {"page": str(10**18)}),
    ("GET", "/api/reports", {"year": str(10**30)}),
    ("GET", "/api/reports", {"per_page": "-" + HUGE}),
    ("GET", "/api/reports", {"per_page": "101"}),
    ("GET", "/api/charts", {"q": "\x00", "year": str(10**30)}),
    ("GET", "/api/export.csv", {"year": str(10**30)}),
    ("GET", "/api/export.jsonl", {"q": "\x00"}),
    ("GET", "/api/export.parquet", {"page": str(10**18)}),
    ("GET", f"/api/reports/{HUGE}", {}),
    ("GET", f"/api/reports/{HUGE}/versions", {}),
    ("GET", "/api/reports/-1", {}),
    ("GET", "/api/reports/1", {"version": str(10**30)}),
    ("DELETE", f"/api/admin/subscriptions/{HUGE}", {}),
]
PAGE_CASES = [
    ("GET", "/", {"q": "\x00"}),
    ("GET", "/", {"page": str(10**18)}),
    ("GET", "/dataset", {"year": str(10**30)}),
    ("GET", f"/reports/{HUGE}", {}),
    ("GET", f"/reports/1/versions/{HUGE}", {}),
    ("GET", f"/reports/{HUGE}/versions/1/diff", {}),
    ("GET", f"/reports/1/versions/{HUGE}/original", {}),
    ("GET", "/unsubscribe/a%00b", {}),
    ("POST", "/unsubscribe/a%00b", {}),
]


def _envelope(resp: httpx.Response, status: int) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert body == {"ok": False, "error": body["error"], "status": status} and body["error"]


@pytest.mark.parametrize(("method", "path", "params"), API_CASES)
def test_hostile_api_parameters_are_400_with_the_envelope(client: TestClient, method: str, path: str, params: dict) -> None:
    _envelope(client.request(method, path, params=params, headers=AUTH), 400)


@pytest.mark.parametrize(("method", "path", "params"), PAGE_CASES)
def test_hostile_page_parameters_are_400_error_pages(client: TestClient, method: str, path: str, params: dict) -> None:
    resp = client.request(method, path, params=params)
    assert resp.status_code == 400 and resp.headers["content-type"].startswith("text/html") and "<h1>400</h1>" in resp.text


@pytest.mark.parametrize(("field", "value"), [("keyword", "a\x00b"), ("agency", "\x1b[2J"), ("region", "浙江省\x85"),
                                             ("keyword", "\ud800"), ("email", "a\x00@example.org")])
def test_admin_bodies_with_control_characters_or_lone_surrogates_are_400(client: TestClient, field: str, value: str) -> None:
    body = json.dumps({"email": "researcher@example.org", field: value})  # \u0000, \ud800 escapes
    _envelope(client.post("/api/admin/subscriptions", content=body, headers={**AUTH, "Content-Type": "application/json"}), 400)


def test_an_unexpected_error_is_a_logged_500_with_the_envelope(client: TestClient, db: Database, seeded: Seeded,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    with db.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE checks"))
    with caplog.at_level(logging.ERROR, logger="web"):
        _envelope(client.get(f"/api/reports/{seeded.zhangzheng}"), 500)
        page = client.get(f"/reports/{seeded.zhangzheng}")
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    assert "checks" not in client.get(f"/api/reports/{seeded.zhangzheng}").json()["error"]  # no SQL leaks out
    logged = [r for r in caplog.records if r.levelno == logging.ERROR and r.exc_info]
    assert logged and f"/reports/{seeded.zhangzheng}" in logged[-1].getMessage()


# -- pages: links and security headers ------------------------------------------------------------


@pytest.mark.parametrize("url", ["javascript:alert(document.cookie)", " JavaScript:alert(1)", "java\tscript:alert(1)",
                                 "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)", "//evil.example/x"])
def test_only_http_urls_become_links(client: TestClient, db: Database, seeded: Seeded, url: str) -> None:
    with db.session() as s:
        v = s.query(ReportVersion).filter_by(report_id=seeded.zhangzheng).one()
        v.source_url, v.document_url = url, url
    page = client.get(f"/reports/{seeded.zhangzheng}").text
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert not [h for h in hrefs if not h.startswith(("/", "http://", "https://"))]
    assert not [h for h in hrefs if "evil" in h or "script" in h.lower()]
    shown = url.replace("<", "&lt;").replace(">", "&gt;")
    assert page.count(shown) >= 2  # still shown, as text


HTML_PAGES = ["/", "/dataset", "/reports/1", "/reports/424242", "/docs", "/unsubscribe/x"]


@pytest.mark.parametrize("path", HTML_PAGES + ["/api/reports", "/api/reports/424242", "/openapi.json", "/static/charts.js"])
def test_every_response_has_the_security_headers(client: TestClient, seeded: Seeded, path: str) -> None:
    resp = client.get(path)
    csp = resp.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src" in csp and "unsafe-inline" not in csp
    assert resp.headers["x-content-type-options"] == "nosniff" and resp.headers["x-frame-options"] == "DENY"
    assert resp.headers["referrer-policy"] == "same-origin"


@pytest.mark.parametrize("path", HTML_PAGES)
def test_pages_have_no_inline_scripts_or_styles(client: TestClient, seeded: Seeded, path: str) -> None:
    page = client.get(path).text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page) and "<style" not in page
    assert not re.search(r"\s(style|on[a-z]+)=", page)


def test_the_original_of_an_html_report_keeps_its_sandbox_policy(client: TestClient, seeded: Seeded) -> None:
    resp = client.get(f"/reports/{seeded.zhongxing}/versions/2/original")
    assert resp.headers["content-security-policy"].startswith("sandbox") and resp.headers["x-frame-options"] == "DENY"


# -- attachment names ----------------------------------------------------------------------------


def test_an_attachment_name_with_control_characters_is_served_sanitised(client: TestClient, db: Database, seeded: Seeded) -> None:
    with db.session() as s:
        s.get(Blob, seeded.pdf_sha).filename = '年报\r\nSet-Cookie: x=1;\x01"a\\b/c.pdf'
    resp = client.get(f"/reports/{seeded.zhangzheng}/versions/1/original")
    assert resp.status_code == 200 and resp.content == seeded.pdf_bytes
    disposition = resp.headers["content-disposition"]
    assert not re.search(r"[\x00-\x1f\x7f]", disposition) and "set-cookie" not in resp.headers
    assert disposition == ('attachment; filename="__ Set-Cookie: x=1; _a_b/c.pdf"; '
                           "filename*=UTF-8''%E5%B9%B4%E6%8A%A5%20Set-Cookie%3A%20x%3D1%3B%20%22a%5Cb%2Fc.pdf")


# -- Host header, HEAD ---------------------------------------------------------------------------


def test_the_host_header_is_never_echoed(client: TestClient, seeded: Seeded) -> None:
    evil = {"Host": "evil.example"}
    listed = client.get("/api/reports", headers=evil).json()["results"][0]
    report = client.get(f"/api/reports/{seeded.zhangzheng}", headers=evil).json()
    page = client.get(f"/reports/{seeded.zhangzheng}", headers=evil).text
    assert "evil" not in repr(listed) + repr(report) + page
    assert listed["url"].startswith("/reports/") and report["original_url"].startswith("/reports/")
    slash = client.get("/api/reports/", headers=evil, follow_redirects=False)
    assert "evil" not in slash.headers.get("location", "") and slash.status_code == 404


def test_the_configured_base_url_makes_urls_absolute(settings: Settings, db: Database, seeded: Seeded) -> None:
    settings.base_url = "https://ogi.example.org/archive/"
    with TestClient(create_app(settings, db)) as c:
        report = c.get(f"/api/reports/{seeded.zhangzheng}", headers={"Host": "evil.example"}).json()
    assert report["original_url"] == f"https://ogi.example.org/archive/reports/{seeded.zhangzheng}/versions/1/original"
    assert report["cite"].endswith(f" https://ogi.example.org/archive/reports/{seeded.zhangzheng}/versions/1")


@pytest.mark.parametrize("path", ["/", "/dataset", "/reports/{zz}", "/reports/{zz}/versions/1/original", "/api/reports",
                                  "/api/reports/{zz}", "/api/export.csv", "/api/codebook", "/openapi.json", "/docs",
                                  "/static/style.css", "/reports/424242"])
def test_head_answers_every_get_route_with_the_same_headers_and_no_body(client: TestClient, seeded: Seeded, path: str) -> None:
    path = path.format(zz=seeded.zhangzheng)
    got, head = client.get(path), client.head(path)
    assert head.status_code == got.status_code and head.content == b""
    for name in ("content-type", "content-disposition", "content-security-policy", "etag"):
        assert head.headers.get(name) == got.headers.get(name)
    if "content-length" in got.headers:
        assert head.headers["content-length"] == got.headers["content-length"]


# -- admin rate limit ----------------------------------------------------------------------------


def test_wrong_admin_tokens_are_rate_limited_per_client(settings: Settings, db: Database) -> None:
    settings.admin_token = "s3cret-admin"
    app = create_app(settings, db)
    with TestClient(app, client=("203.0.113.7", 5000)) as attacker, TestClient(app, client=("198.51.100.1", 5000)) as other:
        for _ in range(10):
            assert attacker.get("/api/admin/subscriptions", headers={"Authorization": "Bearer guess"}).status_code == 401
        blocked = attacker.get("/api/admin/subscriptions", headers={"Authorization": "Bearer guess"})
        _envelope(blocked, 429)
        assert 0 < int(blocked.headers["retry-after"]) <= 60
        assert attacker.get("/api/admin/subscriptions", headers=AUTH).status_code == 429  # even the right one, for now
        assert other.get("/api/admin/subscriptions", headers=AUTH).status_code == 200  # another client is not blocked
        assert attacker.get("/api/reports").status_code == 200  # the public side is not limited


# -- the data directory belongs with the database ------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(cwd: Path, db_url: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "ogi", "serve", "--db", db_url, "--port", str(port)],
                            cwd=cwd, stderr=subprocess.PIPE, env=_env())
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(base + "/api/codebook", timeout=5)
            return proc, base
        except httpx.TransportError:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()
            time.sleep(0.2)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("OGI_DATA_DIR", "OGI_DATABASE_URL", "OGI_CONFIG")} | {
        "PYTHONPATH": str(Path(__file__).parent.parent)}


def test_ogi_serve_finds_the_blobs_of_an_archive_crawled_elsewhere(tmp_path: Path) -> None:
    """A crawl writes the archive under a/ (its data directory recorded in the database);
    ``ogi serve --db`` started in b/ serves its originals."""
    archive, elsewhere = tmp_path / "a", tmp_path / "b"
    elsewhere.mkdir()
    url = f"sqlite:///{archive / 'ogi.sqlite3'}"
    fast = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "CONCURRENT_REQUESTS_PER_DOMAIN": 8, "LOG_LEVEL": "WARNING",
            "OGI_MAX_DOWNLOAD_MB": 1, "DOWNLOAD_TIMEOUT": 1, "RETRY_TIMES": 1}  # the portal's traps, quickly
    with PortalServer(build_site(options=TrapOptions(big_file_mb=1.5, slow_seconds=4))) as portal:
        crawl = subprocess.run([sys.executable, "-m", "ogi", "--data-dir", str(archive / "data"), "crawl",
                                *portal.base_urls.values(), "--db", url, "--no-extract",
                                *(arg for name, value in fast.items() for arg in ("-s", f"{name}={value}"))],
                               cwd=archive.parent, capture_output=True, text=True, timeout=180, env=_env())
    assert crawl.returncode == 0, crawl.stderr[-3000:]
    db = Database(url)
    with db.session() as s:
        version = s.scalars(sa.select(ReportVersion).limit(1)).one()
    db.dispose()
    proc, base = _serve(elsewhere, url)
    try:
        resp = httpx.get(f"{base}/reports/{version.report_id}/versions/{version.version}/original", timeout=10)
        assert resp.status_code == 200 and sha256_hex(resp.content) == version.sha256
    finally:
        proc.terminate()
        proc.wait(10)


def test_ogi_serve_refuses_an_archive_whose_blobs_it_cannot_find(tmp_path: Path) -> None:
    archive, elsewhere = tmp_path / "a", tmp_path / "b"
    elsewhere.mkdir()
    url = f"sqlite:///{archive / 'ogi.sqlite3'}"
    db = Database(url)
    seed_archive(db, BlobStore(archive / "data" / "blobs"))  # written without recording where
    db.dispose()
    done = subprocess.run([sys.executable, "-m", "ogi", "serve", "--db", url, "--port", str(_free_port())],
                          cwd=elsewhere, capture_output=True, text=True, timeout=60, env=_env())
    assert done.returncode != 0 and "--data-dir" in done.stderr
