"""The JSON API and the downloads, through the app, on SQLite and PostgreSQL (issue 7)."""
from __future__ import annotations

import csv
import io
import json

import pyarrow.parquet as pq
from fastapi.testclient import TestClient

from storage.db import Database
from storage.models import Subscription
from tests.seeding import Seeded


def test_search_api_finds_two_character_queries_with_snippets(client: TestClient, seeded: Seeded) -> None:
    body = client.get("/api/reports", params={"q": "掌政"}).json()
    assert body["ok"] and body["total"] == 1
    hit = body["results"][0]
    assert hit["report_id"] == seeded.zhangzheng and hit["failing"] == ["R1-balance"]
    assert "<mark>掌政</mark>" in hit["snippet_html"] and hit["url"].endswith(f"/reports/{seeded.zhangzheng}/versions/1")


def test_search_api_filters_sort_and_pages(client: TestClient, seeded: Seeded) -> None:
    def get(**params: str) -> dict:
        return client.get("/api/reports", params=params).json()

    assert [r["report_id"] for r in get(region="安徽省/淮南市/寿县")["results"]] == [seeded.zhongxing]
    assert [r["report_id"] for r in get(failing="any")["results"]] == [seeded.zhangzheng]
    assert [r["report_id"] for r in get(year="2018", template="legacy")["results"]] == [seeded.zhangshu]
    page2 = get(sort="year_asc", per_page="2", page="2")
    assert page2["pages"] == 2 and [r["report_id"] for r in page2["results"]] == [seeded.zhangzheng]
    bad = client.get("/api/reports", params={"year": "二〇二一"})
    assert bad.status_code == 400 and bad.json() == {"ok": False, "error": bad.json()["error"], "status": 400}
    assert client.get("/api/reports", params={"sort": "drop table"}).status_code == 400


def test_report_api_has_record_cells_failed_checks_and_citation(client: TestClient, seeded: Seeded) -> None:
    body = client.get(f"/api/reports/{seeded.zhangzheng}").json()
    assert body["report_id"] == seeded.zhangzheng and body["version"] == 1 and body["template"] == "2021"
    assert body["values"]["applications.new.natural_person"] == 12
    assert body["cells"]["active.fees.amount_10k_yuan"] == {"value": None, "raw": "—", "unit": "", "derived": False, "ocr": False,
                                                              "confidence": None}
    assert body["failed_checks"][0]["rule"] == "R1-balance"
    assert f"report {seeded.zhangzheng} version 1" in body["cite"]
    assert client.get(body["original_url"]).content == seeded.pdf_bytes
    assert client.get("/api/reports/9999").json() == {"ok": False, "error": "no report 9999", "status": 404}


def test_versions_api_lists_every_version(client: TestClient, seeded: Seeded) -> None:
    body = client.get(f"/api/reports/{seeded.zhongxing}/versions").json()
    assert [v["version"] for v in body["versions"]] == [1, 2]
    v1 = client.get(f"/api/reports/{seeded.zhongxing}", params={"version": 1}).json()
    assert "阳光政府" not in v1["text"] and v1["document_url"] is None


def test_original_is_an_attachment_with_type_name_and_nosniff(client: TestClient, seeded: Seeded) -> None:
    resp = client.get(f"/reports/{seeded.zhangzheng}/versions/1/original")
    assert resp.status_code == 200 and resp.content == seeded.pdf_bytes
    assert resp.headers["content-type"] == "application/pdf"
    assert "filename*=UTF-8''%E6%8E%8C%E6%94%BF%E9%95%872021%E5%B9%B4%E6%8A%A5.pdf" in resp.headers["content-disposition"]
    assert resp.headers["x-content-type-options"] == "nosniff"
    html = client.get(f"/reports/{seeded.zhongxing}/versions/2/original")
    assert html.headers["content-disposition"].startswith("attachment") and "sandbox" in html.headers["content-security-policy"]
    assert client.get(f"/reports/{seeded.zhongxing}/versions/7/original").status_code == 404


def test_wide_and_long_csv_parquet_and_codebook_follow_the_search(client: TestClient, seeded: Seeded) -> None:
    wide = list(csv.DictReader(io.StringIO(client.get("/api/export.csv", params={"q": "复议"}).text)))
    assert [int(r["report_id"]) for r in wide] == [seeded.zhangzheng]
    assert float(wide[0]["applications.new.natural_person"]) == 12
    every = list(csv.DictReader(io.StringIO(client.get("/api/export.csv", params={"all_versions": "true"}).text)))
    assert len(every) == 4
    long = list(csv.DictReader(io.StringIO(client.get("/api/export.csv", params={"layout": "long", "region": "安徽省"}).text)))
    assert [(r["key"], float(r["value"]), r["version"]) for r in long] == [("applications.new.total", 1.0, "2")]
    table = pq.read_table(io.BytesIO(client.get("/api/export.parquet", params={"year": "2021"}).content))
    assert table.column("report_id").to_pylist() == [seeded.zhangzheng]
    lines = client.get("/api/export.jsonl").text.splitlines()
    assert len(lines) == 3 and "掌政镇" in lines[-1] + lines[0] + lines[1]
    assert json.loads(lines[0])["report_id"]
    book = list(csv.DictReader(io.StringIO(client.get("/api/codebook.csv").text)))
    assert {"key": "appeals.review.total", "label": "行政复议 总计", "templates": "2019 2021", "derived": "False"} in book
    rules = {r["rule"] for r in client.get("/api/codebook").json()["rules"]}
    assert {"R1-balance", "R7-text-total", "R8-year-in-force", "R9-year-carried"} <= rules


def test_charts_sum_applications_per_year_and_coverage(client: TestClient, seeded: Seeded) -> None:
    body = client.get("/api/charts").json()
    apps = body["applications"]
    assert apps["years"] == [2020, 2021]
    assert apps["series"]["收到申请"] == [1.0, 12.0] and apps["series"]["予以公开"] == [0.0, 9.0]
    assert body["coverage"]["regions"][0] in {"宁夏回族自治区", "安徽省", "江西省"} and len(body["coverage"]["regions"]) == 3
    sub = client.get("/api/charts", params={"region": "安徽省"}).json()["coverage"]
    assert sub["regions"] == ["安徽省/淮南市"] and sub["series"] == {"2020": [1]}


def test_admin_needs_the_bearer_token(client: TestClient, db: Database) -> None:
    assert client.get("/api/admin/subscriptions").status_code == 401
    assert client.get("/api/admin/subscriptions", headers={"Authorization": "Bearer wrong"}).status_code == 401
    auth = {"Authorization": "Bearer s3cret-admin"}
    made = client.post("/api/admin/subscriptions", json={"email": "researcher@example.org", "region": "安徽省"}, headers=auth)
    assert made.status_code == 201, made.text
    listed = client.get("/api/admin/subscriptions", headers=auth).json()["subscriptions"]
    assert [s["email"] for s in listed] == ["researcher@example.org"]
    assert client.post("/api/admin/subscriptions", json={"email": "not-an-address"}, headers=auth).status_code == 400
    assert client.post("/api/admin/reindex", headers=auth).json() == {"ok": True, "indexed": 0}
    token = made.json()["subscription"]["token"]
    assert client.get(f"/unsubscribe/{token}").status_code == 200
    with db.session() as s:
        assert s.query(Subscription).one().active  # a GET (mail scanner prefetch) changes nothing
    assert "已退订" in client.post(f"/unsubscribe/{token}").text
    assert client.post(f"/unsubscribe/{token}").status_code == 404
    assert client.post("/unsubscribe/researcher@example.org").status_code == 404
    with db.session() as s:
        assert not s.query(Subscription).one().active


def test_openapi_and_docs_work_offline(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/api/reports", "/api/reports/{report_id}", "/api/reports/{report_id}/versions", "/api/export.csv",
            "/api/export.parquet", "/api/codebook"} <= set(spec["paths"])
    docs = client.get("/docs").text
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
