"""End to end in real headless Chromium against a real uvicorn server (issue 7).

A Chinese two-character query finds its report, the report page shows its tables with the
flagged cells, the dataset page draws its charts, and the wide CSV and Parquet downloads parse.
Screenshots go to the test's tmp dir (``OGI_SCREENSHOT_DIR`` to keep them).
"""
from __future__ import annotations

import csv
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright

from domain.config import Settings
from storage.blobs import BlobStore
from storage.db import Database
from tests.seeding import Seeded, seed_archive
from web.app import create_app

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Seeded]]:
    data = tmp_path_factory.mktemp("browser") / "data"
    settings = Settings(data_dir=str(data), database_url=f"sqlite:///{data / 'ogi.sqlite3'}")
    db = Database(settings.db_url)
    seeded = seed_archive(db, BlobStore(settings.blob_dir))
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(settings, db), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", seeded
    srv.should_exit = True
    thread.join(10)
    db.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page that fails its test if the Content-Security-Policy blocked anything on it."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900}, locale="zh-CN")
    pg = context.new_page()
    blocked: list[str] = []
    pg.on("console", lambda msg: blocked.append(msg.text) if "Content Security Policy" in msg.text else None)
    yield pg
    context.close()
    assert not blocked, blocked


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return Path(os.environ.get("OGI_SCREENSHOT_DIR") or tmp_path)


def test_chinese_query_finds_the_report_and_its_tables(server, page: Page, shots: Path) -> None:
    base, seeded = server
    page.goto(base + "/")
    page.get_by_label("query").fill("掌政")
    page.get_by_role("button", name="检索").click()
    hit = page.locator("li.hit a.title")
    expect(hit).to_have_count(1)
    expect(hit).to_have_text("兴庆区掌政镇人民政府2021年政府信息公开工作年度报告")
    expect(page.locator("li.hit mark").first).to_have_text("掌政")
    page.screenshot(path=str(shots / "search.png"), full_page=True)
    hit.click()
    expect(page).to_have_url(f"{base}/reports/{seeded.zhangzheng}/versions/1")
    expect(page.get_by_role("heading", name="三、收到和处理政府信息公开申请情况")).to_be_visible()
    expect(page.locator("table.stats td.flag")).to_have_count(4)
    expect(page.locator('td[data-key="applications.new.natural_person"]')).to_have_text("12")
    page.screenshot(path=str(shots / "report.png"), full_page=True)


def test_api_docs_render_the_operations_under_the_page_policy(server, page: Page) -> None:
    base, _ = server
    page.goto(base + "/docs")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    expect(page.locator('.opblock-summary-path[data-path="/api/reports"]')).to_have_count(1)


def test_dataset_charts_draw_and_exports_download_and_parse(server, page: Page, shots: Path, tmp_path: Path) -> None:
    base, seeded = server
    page.goto(base + "/dataset?region=宁夏回族自治区")
    expect(page.locator("body")).to_have_attribute("data-charts-ready", "1")
    assert page.evaluate("Chart.getChart('chart-applications').data.datasets[0].data") == [12]
    page.screenshot(path=str(shots / "dataset.png"), full_page=True)
    with page.expect_download() as info:
        page.locator("#dl-wide-csv").click()
    csv_path = tmp_path / "wide.csv"
    info.value.save_as(csv_path)
    rows = list(csv.DictReader(csv_path.open(encoding="utf-8")))
    assert [int(r["report_id"]) for r in rows] == [seeded.zhangzheng] and rows[0]["agency"] == "兴庆区掌政镇人民政府"
    with page.expect_download() as info:
        page.locator("#dl-parquet").click()
    pq_path = tmp_path / "wide.parquet"
    info.value.save_as(pq_path)
    assert pq.read_table(pq_path).column("applications.new.natural_person").to_pylist() == [12.0]
