"""One interface convention (issue 11): ``--json`` on every listing command, non-zero exits
when a command could not do its job, ``ogi scheduler``, and a typed OpenAPI description whose
models the real answers satisfy."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import update

from alerts.subscriptions import make_filters, subscribe
from ogi.cli import main
from storage.db import Database
from storage.models import CrawlRun, Digest, Source
from tests.mail import SENDER, Collector, add_report, free_port, start_smtp
from tests.seeding import T0, Seeded
from web import responses


def ogi(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def ogi_json(*args: str) -> object:
    result = ogi(*args, "--json")
    assert result.exit_code == 0, result.output
    assert "\\u" not in result.stdout  # Chinese as is, not escaped
    return json.loads(result.stdout)


@pytest.fixture
def listed(db: Database, seeded: Seeded) -> Seeded:
    """The seeded archive plus a source, a crawl run of it and a subscription."""
    with db.session() as s:
        source = Source(name="shouxian", title="寿县人民政府", province="安徽省", city="淮南市", county="寿县",
                        start_urls=["http://www.shouxian.gov.cn/public/"])
        s.add(source)
        s.flush()
        s.add(CrawlRun(source_id=source.id, kind="incremental", status="finished", started_at=T0,
                       finished_at=T0 + timedelta(minutes=3), pages=7, reports_new=1, reports_changed=1))
        subscribe(s, "reader@example.org", make_filters(region="安徽省"), events=["new", "revised"], language="zh")
    return seeded


def test_every_listing_command_prints_json(db: Database, listed: Seeded, monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    [run] = ogi_json("runs", "--db", db.url)
    assert (run["source"], run["kind"], run["status"], run["pages"], run["reports_new"], run["reports_changed"]) == (
        "shouxian", "incremental", "finished", 7, 1, 1)
    assert run["started_at"].startswith("2026-02-01T08:00") and set(run) >= {"finished_at", "errors", "message", "stats"}

    history = ogi_json("history", str(listed.zhongxing), "--db", db.url)
    assert (history["id"], history["title"], history["region"]) == (
        listed.zhongxing, "众兴镇2020年度政府信息公开工作年度报告", "安徽省/淮南市/寿县")
    assert [v["version"] for v in history["versions"]] == [1, 2]
    assert history["versions"][0]["size"] > 0 and history["versions"][0]["extraction_status"] == "done"
    assert history["urls"][0]["url"] == "http://www.shouxian.gov.cn/public/zx2020.html"

    diff = ogi_json("diff", str(listed.zhongxing), "--db", db.url)
    assert (diff["old"]["version"], diff["new"]["version"]) == (1, 2)
    assert diff["values"] == [{"key": "applications.new.total", "old": 0.0, "new": 1.0, "old_raw": "0", "new_raw": "1"}]
    assert "+（更新）补充了阳光政府建设的内容。" in diff["text"]

    assert ogi_json("sources", "--db", db.url) == [{
        "name": "shouxian", "title": "寿县人民政府", "region": "安徽省/淮南市/寿县",
        "start_urls": ["http://www.shouxian.gov.cn/public/"], "enabled": True, "verified": False}]

    [sub] = ogi_json("subscriptions", "--db", db.url)
    assert (sub["email"], sub["language"], sub["active"], sub["events"], sub["filters"], sub["sent"], sub["pending"]) == (
        "reader@example.org", "zh", True, ["new", "revised"], {"region": "安徽省"}, 0, 0)


def test_json_keeps_terminal_controls_escaped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    db = Database(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    with db.session() as s:
        s.add(Source(name="evil", title="标题\x1b]8;;http://x\x07\x9b2J\u202e", start_urls=[]))
    out = ogi("sources", "--db", db.url, "--json").stdout
    assert not {"\x1b", "\x07", "\x9b", "\u202e"} & set(out)
    assert json.loads(out)[0]["title"] == "标题\x1b]8;;http://x\x07\x9b2J\u202e"


def _alerts_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, port: int) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value in {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_FROM": SENDER}.items():
        monkeypatch.setenv(f"OGI_{name}", value)


def test_alerts_send_exits_non_zero_when_a_digest_could_not_be_sent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()  # nothing listens here yet: the send fails
    _alerts_env(monkeypatch, tmp_path, port)
    db = Database(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    with db.session() as s:
        subscribe(s, "reader@example.org", make_filters(), events=["new"], language="zh")
    add_report(db, "http://portal.test/a.pdf", title="某县2024年政府信息公开工作年度报告", agency="某县人民政府",
               region="浙江省/杭州市", year=2024, sha="a")
    failed = ogi("alerts", "send", "--db", db.url)
    assert failed.exit_code == 1 and "failed 1 (will retry)" in failed.stdout, failed.output

    with db.session() as s:  # the retry is due (as after the back-off)
        s.execute(update(Digest).values(next_attempt_at=None))
    inbox = Collector()
    controller = start_smtp(port, inbox)
    try:
        retried = ogi("alerts", "send", "--db", db.url)
    finally:
        controller.stop()
    assert retried.exit_code == 0 and "failed 0" in retried.stdout, retried.output
    assert list(inbox.by_recipient()) == ["reader@example.org"]


def test_ogi_scheduler_once_on_a_fresh_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    result = ogi("scheduler", "--once", "--now", "2026-03-01T12:00", "--db", url, "--data-dir", str(tmp_path / "data"))
    assert result.exit_code == 0 and result.stdout == "", result.output
    refused = ogi("scheduler", "--once", "--now", "yesterday", "--db", url)
    assert refused.exit_code == 2 and "not an ISO 8601 time" in refused.output


# --------------------------------------------------------------------------- the API's models

JSON_ROUTES = {  # path -> (method, the 200 model)
    "/api/reports": ("get", responses.SearchPage),
    "/api/reports/{report_id}": ("get", responses.ReportRecord),
    "/api/reports/{report_id}/versions": ("get", responses.ReportVersions),
    "/api/charts": ("get", responses.Charts),
    "/api/codebook": ("get", responses.Codebook),
    "/api/admin/subscriptions": ("get", responses.Subscriptions),
    "/api/admin/subscriptions/{subscription_id}": ("delete", responses.Deactivated),
    "/api/admin/reindex": ("post", responses.Reindexed),
}


def test_openapi_types_every_json_route_and_its_errors(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path, (method, model) in JSON_ROUTES.items():
        answers = spec["paths"][path][method]["responses"]
        ok = answers.get("200") or answers["201"]
        assert ok["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{model.__name__}"}, path
        assert answers["4XX"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorEnvelope"), path
        assert "422" not in answers, path  # validation errors are answered 400, in the envelope
    created = spec["paths"]["/api/admin/subscriptions"]["post"]["responses"]["201"]
    assert created["content"]["application/json"]["schema"]["$ref"].endswith("/SubscriptionCreated")
    assert set(spec["components"]["schemas"]["ErrorEnvelope"]["properties"]) == {"ok", "error", "status"}


def _round_trips(model: type[BaseModel], body: bytes) -> None:
    """``body`` is exactly what ``model`` writes for it: same fields, order, types and bytes."""
    parsed = model.model_validate_json(body)
    assert json.dumps(parsed.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":")).encode() == body


def test_real_answers_are_what_the_models_say(client: TestClient, seeded: Seeded) -> None:
    auth = {"Authorization": "Bearer s3cret-admin"}
    created = client.post("/api/admin/subscriptions", headers=auth, json={"email": "r@example.org", "region": "安徽省"})
    assert created.status_code == 201
    _round_trips(responses.SubscriptionCreated, created.content)
    sub_id = created.json()["subscription"]["id"]
    for model, answer in (
        (responses.SearchPage, client.get("/api/reports", params={"q": "政府"})),
        (responses.ReportRecord, client.get(f"/api/reports/{seeded.zhangzheng}")),
        (responses.ReportRecord, client.get(f"/api/reports/{seeded.zhongxing}", params={"version": 1})),
        (responses.ReportVersions, client.get(f"/api/reports/{seeded.zhongxing}/versions")),
        (responses.Charts, client.get("/api/charts")),
        (responses.Codebook, client.get("/api/codebook")),
        (responses.Subscriptions, client.get("/api/admin/subscriptions", headers=auth)),
        (responses.Reindexed, client.post("/api/admin/reindex", headers=auth)),
        (responses.Deactivated, client.delete(f"/api/admin/subscriptions/{sub_id}", headers=auth)),
        (responses.ErrorEnvelope, client.get("/api/reports/999999")),
        (responses.ErrorEnvelope, client.get("/api/reports", params={"year": "x"})),
        (responses.ErrorEnvelope, client.get("/api/admin/subscriptions")),
    ):
        _round_trips(model, answer.content)
