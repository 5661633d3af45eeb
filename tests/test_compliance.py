"""Who has not published: region codes, agency keys, expectations night by night, alerts.

A simulated archive of one county portal (安徽省/淮南市/寿县) over report years 2023-2025,
recorded through the real versioning code with controlled publication dates, and walked
night by night around the two deadlines (31 January for departments, 31 March for the
county government) with the grace period of 14 days:

* 人社局 publishes 2023 and 2024 (once abbreviated: 县人社局) and then stops: 2025 missing;
* 财政局 publishes 2025 on 20 February 2026: missing after the grace period, then late (20 days);
* 卫生和计划生育委员会 is renamed 卫生健康委员会 for 2024: the new body owes the report, not missing;
* 教育局's 2025 report is withdrawn: withdrawn;
* the county government publishes 2025 on 5 April 2026: pending inside the grace, then late (5).
"""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime, time
from itertools import count
from urllib.parse import urlencode

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select

from alerts.send import send_pending
from domain import gazetteer
from domain.agencies import agency_key
from domain.config import Settings
from ogi.cli import main
from storage import exports
from storage.agencies import CorrectionError, correct, identify, undo
from storage.compliance import CHINA, evaluate, expectations
from storage.db import Database
from storage.models import Report, Source
from storage.versions import ReportCandidate, mark_gone, record_report
from tests.mail import Collector, sub
from web.app import create_app

GRACE = 14
EXPECTED_COLUMNS = ("agency", "agency_key", "region", "region_code", "report_year", "deadline", "status",
                    "published_at", "days_late", "report_id")
SHOU = "安徽省/淮南市/寿县"
_shas = count(1)


def night(day: str) -> datetime:
    """02:00 in China on ``day`` (the nightly's hour), as UTC."""
    return datetime.combine(date.fromisoformat(day), time(2, 0), CHINA).astimezone(UTC)


def add_source(db: Database, name: str, region: str) -> int:
    province, city, county = (region.split("/") + ["", "", ""])[:3]
    with db.session() as s:
        src = Source(name=name, province=province, city=city, county=county)
        s.add(src)
        s.flush()
        return src.id


def publish(db: Database, source_id: int, agency: str, year: int, published: str, *, region: str = SHOU,
            seen: str | None = None) -> int:
    """A report of ``agency`` for ``year``, printed ``published``, found the night ``seen`` (default: that day)."""
    n = next(_shas)
    url = f"http://portal.test/{source_id}/{n}.pdf"
    with db.session() as s:
        candidate = ReportCandidate(url=url, source_url=f"http://portal.test/{source_id}/col.html", document_url=url,
                                    title=f"{agency}{year}年政府信息公开工作年度报告", sha256=f"{n:064x}",
                                    region=region, agency=agency, report_year=year, published_at=published,
                                    fetched_at=night(seen or published))
        report, _, _ = record_report(s, candidate, source_id=source_id)
        return report.id


def statuses(db: Database, day: str, year: int = 2025) -> dict[str, tuple[str, int | None]]:
    with db.session() as s:
        evaluate(s, now=night(day), grace_days=GRACE)
        return {e.agency_key.partition("/")[2]: (e.status, e.days_late) for e in expectations(s, year=year)}


@pytest.fixture
def county(db: Database) -> int:
    src = add_source(db, "shouxian", SHOU)
    for year in (2023, 2024):
        publish(db, src, "寿县人力资源和社会保障局" if year == 2023 else "县人社局", year, f"{year + 1}-01-20")
        publish(db, src, "寿县财政局", year, f"{year + 1}-01-25")
        publish(db, src, "寿县卫生和计划生育委员会" if year == 2023 else "寿县卫生健康委员会", year, f"{year + 1}-01-10")
        publish(db, src, "寿县教育局", year, f"{year + 1}-01-12")
        publish(db, src, "寿县人民政府", year, f"{year + 1}-03-15")
    publish(db, src, "寿县卫生健康委员会", 2025, "2026-01-10")
    publish(db, src, "寿县教育局", 2025, "2026-01-12")
    return src


def test_agency_keys_survive_abbreviations_and_places() -> None:
    shou = gazetteer.resolve(SHOU).code
    assert shou == "340422"
    assert agency_key("县人社局", shou) == agency_key("寿县人力资源和社会保障局", shou) == "340422/人力资源和社会保障局"
    assert agency_key("人社局", "340421") != agency_key("人社局", shou)  # the same department of another county
    assert agency_key("寿县卫生和计划生育委员会", shou) != agency_key("寿县卫生健康委员会", shou)  # linked, not merged


def test_region_names_in_two_provinces(db: Database) -> None:
    assert [d.code for d in gazetteer.lookup("朝阳区")] == ["110105", "220104"]
    changchun = add_source(db, "chaoyang-cc", "吉林省/长春市")
    beijing = add_source(db, "chaoyang-bj", "北京市")
    cc = publish(db, changchun, "朝阳区财政局", 2024, "2025-01-10", region="朝阳区")
    bj = publish(db, beijing, "朝阳区财政局", 2024, "2025-01-10", region="朝阳区")
    with db.session() as s:
        lost = record_report(s, ReportCandidate(url="http://elsewhere.test/a.pdf", source_url="http://elsewhere.test/",
                                                document_url="http://elsewhere.test/a.pdf", title="朝阳区2024年报",
                                                sha256="f" * 64, region="朝阳区", agency="朝阳区财政局",
                                                report_year=2024))[0].id
        done = identify(s)
        assert (s.get(Report, cc).region_code, s.get(Report, bj).region_code) == ("220104", "110105")
        assert s.get(Report, cc).agency_key != s.get(Report, bj).agency_key
        assert s.get(Report, lost).region_code == ""  # no source to tell which: unresolved, with a warning
        assert done.unresolved == 1 and "ambiguous" in done.warnings[0] and f"report {lost}" in done.warnings[0]


NIGHTS = [  # (night, expected 2025 statuses: key name -> (status, days late))
    ("2026-01-30", {"人力资源和社会保障局": ("pending", None), "财政局": ("pending", None)}),
    ("2026-02-01", {"人力资源和社会保障局": ("pending", None), "财政局": ("pending", None)}),
    ("2026-02-14", {"人力资源和社会保障局": ("pending", None), "财政局": ("pending", None)}),
    ("2026-02-15", {"人力资源和社会保障局": ("missing", None), "财政局": ("missing", None)}),
    ("2026-02-20", {"人力资源和社会保障局": ("missing", None), "财政局": ("late", 20)}),
    ("2026-03-31", {"人民政府": ("pending", None)}),
    ("2026-04-01", {"人民政府": ("pending", None)}),
    ("2026-04-05", {"人民政府": ("late", 5)}),
    ("2026-04-16", {"人力资源和社会保障局": ("missing", None), "财政局": ("late", 20), "人民政府": ("late", 5),
                    "卫生健康委员会": ("on_time", None), "教育局": ("withdrawn", None)}),
]


def test_statuses_night_by_night(db: Database, county: int) -> None:
    for day, expected in NIGHTS:
        if day == "2026-02-20":
            publish(db, county, "寿县财政局", 2025, "2026-02-20")
        if day == "2026-03-31":
            with db.session() as s:
                edu = s.scalars(select(Report).where(Report.agency == "寿县教育局", Report.report_year == 2025)).one()
                mark_gone(s, edu.url, None, 404, when=night("2026-03-01"))
        if day == "2026-04-05":
            publish(db, county, "寿县人民政府", 2025, "2026-04-05")
        got = statuses(db, day)
        assert {k: got[k] for k in expected} == expected, day
        assert "卫生和计划生育委员会" not in got  # renamed: its successor owes the report
    assert statuses(db, "2026-04-16", 2024) == {name: ("on_time", None) for name in
                                                 ("人力资源和社会保障局", "财政局", "卫生健康委员会", "教育局", "人民政府")}



def cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_cli_csv_json_parquet_and_corrections(db: Database, db_url: str, county: int, tmp_path) -> None:
    publish(db, county, "寿县财政局", 2025, "2026-02-20")
    result = cli("compliance", "--year", "2025", "--region", "安徽省", "--format", "csv", "--db", db_url,
                 "--as-of", "2026-04-16")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert set(EXPECTED_COLUMNS) <= set(rows[0])
    by_key = {r["agency_key"]: r for r in rows}
    assert by_key["340422/财政局"]["status"] == "late" and by_key["340422/财政局"]["days_late"] == "20"
    assert by_key["340422/财政局"]["deadline"] == "2026-01-31" and by_key["340422/财政局"]["region_code"] == "340422"
    assert by_key["340422/人民政府"]["deadline"] == "2026-03-31" and by_key["340422/人民政府"]["status"] == "missing"
    hr = by_key["340422/人力资源和社会保障局"]
    assert (hr["status"], hr["report_id"], hr["days_late"]) == ("missing", "", "")
    assert cli("compliance", "--year", "2025", "--region", "吉林省", "--format", "csv", "--db", db_url).output.count("\n") == 1
    assert len(json.loads(cli("compliance", "--year", "2025", "--region", "34", "--format", "json", "--db", db_url).output)) == 5
    cli("compliance", "--year", "2025", "--format", "parquet", "-o", str(tmp_path / "e.parquet"), "--db", db_url)
    table = pq.read_table(tmp_path / "e.parquet")
    assert table.num_rows == 5 and table.schema.field("days_late").type == pa.int32()

    # A manual merge (recorded, reversible): 教育局 and 财政局 are declared one body, then undone.
    merged = cli("agencies", "merge", "340422/教育局", "340422/财政局", "--reason", "test", "--db", db_url)
    assert merged.exit_code == 0 and "undo" in merged.output
    with db.session() as s:
        assert not s.scalars(select(Report).where(Report.agency_key == "340422/教育局")).all()
    assert cli("agencies", "undo", merged.output.split()[1].rstrip(":"), "--db", db_url).exit_code == 0
    with db.session() as s:
        assert len(s.scalars(select(Report).where(Report.agency_key == "340422/教育局")).all()) == 3
    history = json.loads(cli("agencies", "corrections", "--json", "--db", db_url).output)
    assert [(c["action"], c["reverted_at"] is not None) for c in history] == [("merge", True)]
    refused = cli("agencies", "merge", "340422/没有", "340422/财政局", "--db", db_url)
    assert refused.exit_code != 0 and "no report has the agency key" in refused.output


def test_export_records_carry_region_code_and_agency_key(db: Database, county: int) -> None:
    with db.session() as s:
        identify(s)
        records = list(exports.iter_records(s))
    assert {(r["agency_key"], r["region_code"]) for r in records if r["agency"] == "县人社局"} == {
        ("340422/人力资源和社会保障局", "340422")}
    assert {c["column"] for c in exports.expectations_codebook()} >= set(EXPECTED_COLUMNS)


def test_missing_alerts_once_per_agency_after_the_grace_only_in_the_province(
        db: Database, county: int, mail_settings: Settings, collector: Collector) -> None:
    changchun = add_source(db, "chaoyang-cc", "吉林省/长春市/朝阳区")
    for year in (2023, 2024):
        publish(db, changchun, "朝阳区财政局", year, f"{year + 1}-01-20", region="吉林省/长春市/朝阳区")
    sub(db, "anhui@example.org", events="missing", region="安徽省")
    sent: dict[str, int] = {}
    for day in ("2026-02-01", "2026-02-14", "2026-02-15", "2026-02-16", "2026-02-20", "2026-04-14", "2026-04-15",
                "2026-04-16"):
        if day == "2026-02-20":
            publish(db, county, "寿县财政局", 2025, "2026-02-20")  # late now: no second alert for it
        with db.session() as s:
            evaluate(s, now=night(day), grace_days=GRACE)
        send_pending(db, mail_settings, now=night(day))
        sent[day] = len(collector.messages())
    assert sent == {"2026-02-01": 0, "2026-02-14": 0, "2026-02-15": 1, "2026-02-16": 1, "2026-02-20": 1,
                    "2026-04-14": 1, "2026-04-15": 2, "2026-04-16": 2}
    bodies = [m.get_body(("plain",)).get_content() for m in collector.messages()]
    entries = [line for body in bodies for line in body.splitlines() if line.startswith("* ")]
    assert sorted(entries) == sorted(["* 县人社局2025年政府信息公开工作年度报告", "* 寿县财政局2025年政府信息公开工作年度报告",
                                      "* 寿县人民政府2025年政府信息公开工作年度报告"])
    assert all("朝阳区" not in body for body in bodies)
    assert "截止日期 2026-01-31（另有 14 天宽限期）已过" in bodies[0] and "逾期未发布 2 份" in collector.messages()[0]["Subject"]
    assert "/compliance?year=2025&region=" in bodies[0]


def test_web_page_json_and_csv(db: Database, county: int, settings: Settings) -> None:
    with db.session() as s:
        evaluate(s, now=night("2026-04-16"), grace_days=GRACE)
    with TestClient(create_app(settings, db)) as client:
        page = client.get("/compliance", params={"year": "2025", "region": "安徽省"})
        assert page.status_code == 200
        assert "寿县卫生健康委员会" in page.text and "missing: <strong>3</strong>" in page.text
        assert re.findall(r"<script[^>]*>", page.text) == [
            '<script src="/static/vendor/chartjs/chart.umd.min.js">',
            f'<script src="/static/compliance.js" data-src="/api/compliance?{urlencode({"year": 2025, "region": "安徽省"})}"'
            .replace("&", "&amp;") + ">"]
        assert client.get("/static/compliance.js").status_code == 200
        data = client.get("/api/compliance", params={"region": "3404"}).json()  # code prefix; the latest year
        assert data["year"] == 2025 and data["counts"]["missing"] == 3 and data["counts"]["on_time"] == 2
        assert data["chart"] == {"provinces": ["安徽省"], "series": {"on_time": [2], "late": [0], "missing": [3]}}
        assert client.get("/api/compliance", params={"year": 2025, "region": "吉林省"}).json()["rows"] == []
        rows = list(csv.DictReader(io.StringIO(client.get("/api/compliance.csv", params={"year": 2025}).text)))
        assert len(rows) == 5 and set(EXPECTED_COLUMNS) <= set(rows[0])
        assert data["total"] == 5 and data["page"] == 1
        assert client.get("/api/compliance", params={"year": 2025, "page": 2}).json()["rows"] == []  # 200 a page
        bad = client.get("/api/compliance", params={"year": "twenty"})
        assert bad.status_code == 400 and bad.json()["ok"] is False


def test_split_and_link_corrections_change_who_owes(db: Database, county: int) -> None:
    with db.session() as s:
        identify(s)
        finance = s.scalars(select(Report).where(Report.agency_key == "340422/财政局").order_by(Report.report_year)).all()
        (split,) = correct(s, "split", "340422/财政局", "340422/财政局(原)", report_ids=(finance[0].id,), reason="two bodies")
        assert s.get(Report, finance[0].id).agency_key == "340422/财政局(原)"
        assert s.get(Report, finance[1].id).agency_key == "340422/财政局"
        # 教育局 became 教育体育局 (a rename no table knows): linked, so the successor owes 2025.
        correct(s, "link", "340422/教育局", "340422/教育体育局")
        evaluate(s, now=night("2026-04-16"), grace_days=GRACE)
        owed = {e.agency_key: e.status for e in expectations(s, year=2025)}
        assert owed["340422/教育局"] == "on_time"  # it published 2025 itself: listed under its own key
        assert owed["340422/教育体育局"] == "missing"
        undo(s, split.id)
        assert s.get(Report, finance[0].id).agency_key == "340422/财政局"
        with pytest.raises(CorrectionError, match="do not have the key"):
            correct(s, "split", "340422/财政局", "340422/x", report_ids=(999_999,))


def test_a_government_that_never_published_is_alerted_missing(db: Database, mail_settings: Settings,
                                                              collector: Collector) -> None:
    """Its departments publish, the county government never has: its missing event has no report to
    point at, so it carries the expectation alone and links the compliance page."""
    src = add_source(db, "fengtai", "安徽省/淮南市/凤台县")
    publish(db, src, "凤台县财政局", 2025, "2026-01-20", region="安徽省/淮南市/凤台县")
    sub(db, "huainan@example.org", events="missing", region="安徽省/淮南市")
    sent = []
    for day in ("2026-04-14", "2026-04-15", "2026-04-16"):
        with db.session() as s:
            evaluate(s, now=night(day), grace_days=GRACE)
        send_pending(db, mail_settings, now=night(day))
        sent.append(len(collector.messages()))
    assert sent == [0, 1, 1]  # after the grace, once
    [message] = collector.messages()
    body = message.get_body(("plain",)).get_content()
    assert [line for line in body.splitlines() if line.startswith("* ")] == ["* 凤台县人民政府2025年政府信息公开工作年度报告"]
    assert "/compliance?year=2025&region=" in body and "逾期未发布 1 份" in message["Subject"]
    with db.session() as s:
        [row] = [e for e in expectations(s, year=2025) if e.kind == "government"]
        assert (row.status, row.report_id, row.alerted) == ("missing", None, ["missing"])
