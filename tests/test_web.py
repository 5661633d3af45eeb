"""The HTML pages through the app: search, report tables and history, dataset, errors, escaping."""
from __future__ import annotations

import re
from dataclasses import replace

from fastapi.testclient import TestClient
from sqlalchemy import select

from domain.config import Settings
from storage.db import Database
from storage.models import ReportVersion
from tests.seeding import Seeded
from web.app import create_app


def test_search_page_shows_hits_with_marked_snippets_and_json_twin(client: TestClient, seeded: Seeded) -> None:
    page = client.get("/", params={"q": "复议"}).text
    assert "兴庆区掌政镇人民政府2021年政府信息公开工作年度报告" in page and "<mark>复议</mark>" in page
    assert "共 1 份报告" in page and 'rel="alternate" type="application/json" href="/api/reports?q=' in page
    assert "R1-balance" in page


def test_report_page_lays_out_the_three_tables_and_flags_failed_cells(client: TestClient, seeded: Seeded) -> None:
    page = client.get(f"/reports/{seeded.zhangzheng}").text
    for heading in ("二、主动公开政府信息情况", "三、收到和处理政府信息公开申请情况", "四、政府信息公开行政复议、行政诉讼情况",
                    "一、本年新收政府信息公开申请数量", "法人或其他组织", "未经复议直接起诉", "本年收费金额（单位：万元）"):
        assert heading in page
    flagged = re.findall(r'<td class="flag[^"]*" data-key="([^"]+)"', page)
    assert flagged == [f"applications.{r}.natural_person" for r in ("new", "carried_over", "result.total", "carried_forward")]
    assert "✗ R1-balance: natural_person: 12 + 0 != 9 + 2" in page
    assert 'data-key="active.fees.amount_10k_yuan"' in page and ">—</td>" in page  # the raw text as printed
    assert f"/reports/{seeded.zhangzheng}/versions/1/original" in page and "application/pdf" in page
    assert "Cite this" in page and "http://www.xqq.gov.cn/zwgk/art/2022/1/20/art_1.html" in page


def test_report_page_shows_history_and_diff(client: TestClient, seeded: Seeded) -> None:
    page = client.get(f"/reports/{seeded.zhongxing}").text
    assert "v1" in page and "v2" in page and f'href="/reports/{seeded.zhongxing}/versions/2/diff"' in page
    diff = client.get(f"/reports/{seeded.zhongxing}/versions/2/diff").text
    assert "与 v1 的差异" in diff and '<span class="add">+（更新）补充了阳光政府建设的内容。</span>' in diff
    assert "applications.new.total" in diff  # the value that changed
    old = client.get(f"/reports/{seeded.zhongxing}/versions/1").text
    assert "与 v1 的差异" not in old and "阳光政府" not in old
    assert client.get(f"/reports/{seeded.zhongxing}/versions/1/diff").status_code == 404


def test_report_text_is_escaped_never_rendered(client: TestClient, db: Database, seeded: Seeded) -> None:
    with db.session() as s:
        v = s.query(ReportVersion).filter_by(report_id=seeded.zhangshu).one()
        v.text = '樟树<script>alert("x")</script><img src=x onerror=alert(1)>'
        v.sections = {"overview": "<b>粗体</b>"}
    page = client.get(f"/reports/{seeded.zhangshu}").text
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>粗体</b>" not in page
    assert "&lt;script&gt;" in page and "&lt;b&gt;粗体&lt;/b&gt;" in page


def test_dataset_page_links_exports_of_the_current_search(client: TestClient, seeded: Seeded) -> None:
    page = client.get("/dataset", params={"q": "掌政", "year": "2021"}).text
    assert 'href="/api/export.csv?q=%E6%8E%8C%E6%94%BF&amp;year=2021"' in page
    assert "layout=long" in page and "/api/export.parquet?" in page and "/api/codebook.csv" in page
    assert "/static/vendor/chartjs/chart.umd.min.js" in page and "applications.result.other.no_fee.total" in page


def test_errors_are_pages_for_people_and_json_for_the_api(client: TestClient) -> None:
    resp = client.get("/reports/424242")
    assert resp.status_code == 404 and "no report 424242" in resp.text and resp.headers["content-type"].startswith("text/html")
    assert client.get("/?page=abc").status_code == 400


def test_ogi_serve_runs_the_app_from_the_command_line(tmp_path, seeded_sqlite_url: str) -> None:
    """``ogi serve`` in its own process answers search requests (a real server, a real socket)."""
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "ogi", "--data-dir", str(tmp_path / "data"), "serve",
                             "--db", seeded_sqlite_url, "--port", str(port)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/api/reports", params={"q": "掌政"}, timeout=5).json()
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()
                time.sleep(0.2)
        assert body["total"] == 1
    finally:
        proc.terminate()
        proc.wait(10)


def test_report_page_links_the_replay_and_names_what_extracted_it(settings: Settings, db: Database,
                                                                   seeded: Seeded) -> None:
    """With a replay configured, the source page links its capture at the version's fetch time."""
    with db.session() as s:
        v = s.scalars(select(ReportVersion).where(ReportVersion.report_id == seeded.zhangzheng)).one()
        v.provenance = {"ogi-archive": "0.9.0", "pdfium": "6996"}
        stamp = f"{v.fetched_at:%Y%m%d%H%M%S}"
    with TestClient(create_app(settings, db)) as plain:
        assert 'class="replay"' not in plain.get(f"/reports/{seeded.zhangzheng}").text
    replayed = replace(settings, replay_base_url="http://replay.example.org/ogi/")
    with TestClient(create_app(replayed, db)) as client:
        page = client.get(f"/reports/{seeded.zhangzheng}").text
    assert f'href="http://replay.example.org/ogi/{stamp}/http://www.xqq.gov.cn/zwgk/art/2022/1/20/art_1.html"' in page
    assert "Extracted by: ogi-archive 0.9.0, pdfium 6996" in page
