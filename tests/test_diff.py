"""Diffs between versions (text and table values), revision details for alerts, and `ogi history/diff/runs`."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

from click.testing import CliRunner
from sqlalchemy import select

from ogi.cli import main
from storage.db import Database
from storage.diff import complete_revision_details, text_diff, value_changes
from storage.models import Blob, ChangeEvent, CrawlRun, ExtractedValue, ReportVersion, Source, utcnow
from storage.versions import ReportCandidate, record_report

PDF = "http://127.0.0.1/module/download/downfile.jsp?classid=0&filename=2021.pdf"
PAGE = "http://127.0.0.1/art/2021/1/20/art_1_2.html"
TEXT_1 = "一、总体情况\n本年度共收到申请12件。\n二、主动公开政府信息情况\n"
TEXT_2 = "一、总体情况\n本年度共收到申请15件。\n二、主动公开政府信息情况\n"


def _record(db: Database, sha: str, day: int, run_id: int | None = None) -> int:
    with db.session() as s:
        _, version, _ = record_report(s, ReportCandidate(
            url=PDF, source_url=PAGE, document_url=PDF, title="某区2020年政府信息公开工作年度报告", sha256=sha,
            fetched_at=utcnow() + timedelta(days=day)), run_id=run_id)
        if s.get(Blob, sha) is None:
            s.add(Blob(sha256=sha, size=1000 + day))
        return version.id


def _extract(db: Database, version_id: int, text: str, values: dict[str, tuple[float | None, str]]) -> None:
    """What pipelines.worker writes for an extracted version, reduced to what diffs read."""
    with db.session() as s:
        v = s.get(ReportVersion, version_id)
        v.text, v.extraction_status = text, "done"
        for key, (value, raw) in values.items():
            s.add(ExtractedValue(version_id=v.id, key=key, value=value, raw=raw))


def _two_versions(db: Database) -> tuple[int, int]:
    with db.session() as s:
        run = CrawlRun(kind="incremental", status="finished")
        s.add(run)
        s.flush()
        run_id = run.id
    v1 = _record(db, "a" * 64, 0)
    v2 = _record(db, "b" * 64, 1, run_id)
    _extract(db, v1, TEXT_1, {"applications.new.total": (12, "12"), "appeals.review.total": (1, "1"),
                              "active.rules.made": (None, "—")})
    _extract(db, v2, TEXT_2, {"applications.new.total": (15, "15"), "appeals.review.total": (1, "1.0"),
                              "applications.results.granted": (3, "3")})
    return v1, v2


def test_text_diff_is_unified_and_empty_when_equal() -> None:
    lines = text_diff(TEXT_1, TEXT_2, old_label="v1", new_label="v2")
    assert lines[:2] == ["--- v1", "+++ v2"]
    assert "-本年度共收到申请12件。" in lines and "+本年度共收到申请15件。" in lines
    assert text_diff(TEXT_1, TEXT_1) == []


def test_value_changes_and_revision_details(db: Database) -> None:
    v1, v2 = _two_versions(db)
    with db.session() as s:
        changes = {c.key: (c.old, c.new) for c in value_changes(s, v1, v2)}
        # "—" in v1 and no cell in v2 are both "no number": not a change.
        assert changes == {"applications.new.total": (12, 15), "applications.results.granted": (None, 3)}
        assert complete_revision_details(s) == 1
    with db.session() as s:
        event = s.scalars(select(ChangeEvent).where(ChangeEvent.kind == "revised")).one()
        summary = event.details["changes"]
        assert summary["values_changed"] == 2 and (summary["lines_added"], summary["lines_removed"]) == (1, 1)
        assert {"key": "applications.new.total", "old": 12, "new": 15, "old_raw": "12", "new_raw": "15"} in summary["values"]
        assert complete_revision_details(s) == 0  # done once


def test_revision_details_wait_for_extraction(db: Database) -> None:
    _record(db, "a" * 64, 0)
    _record(db, "b" * 64, 1)
    with db.session() as s:
        assert complete_revision_details(s) == 0
        assert "changes" not in s.scalars(select(ChangeEvent).where(ChangeEvent.kind == "revised")).one().details


def test_history_and_diff_commands(db: Database) -> None:
    _two_versions(db)
    runner = CliRunner()
    out = runner.invoke(main, ["history", PDF, "--db", db.url])
    assert out.exit_code == 0, out.output
    assert "a" * 12 in out.output and "b" * 12 in out.output and "done" in out.output and "1000 B" in out.output
    by_page = runner.invoke(main, ["history", PAGE, "--db", db.url])  # the page it hangs on works too
    assert by_page.exit_code == 0 and "b" * 12 in by_page.output
    out = runner.invoke(main, ["diff", PDF, "--db", db.url])
    assert out.exit_code == 0, out.output
    assert "+本年度共收到申请15件。" in out.output and "-本年度共收到申请12件。" in out.output
    row = next(line for line in out.output.splitlines() if "applications.new.total" in line)
    assert "12" in row and "15" in row
    assert "appeals.review.total" not in out.output  # 1 and 1.0 are the same value
    same = runner.invoke(main, ["diff", "1", "1", "1", "--db", db.url])
    assert same.exit_code == 0 and "Text: no change" in same.output and "Values: no change" in same.output


def test_commands_refuse_unknown_reports_and_versions(db: Database) -> None:
    _record(db, "a" * 64, 0)
    runner = CliRunner()
    out = runner.invoke(main, ["history", "http://127.0.0.1/nothing", "--db", db.url])
    assert out.exit_code != 0 and "no report" in out.output
    out = runner.invoke(main, ["diff", "1", "--db", db.url])
    assert out.exit_code != 0 and "only 1 version" in out.output
    out = runner.invoke(main, ["diff", "1", "1", "7", "--db", db.url])
    assert out.exit_code != 0 and "no version 7" in out.output


def test_runs_shows_counts_alerts_and_interrupted(db: Database) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with db.session() as s:
        src = Source(name="fuyang")
        s.add(src)
        s.flush()
        s.add_all([
            CrawlRun(source_id=src.id, kind="full", status="finished", pages=40, reports_new=7, reports_withdrawn=1,
                     finished_at=utcnow(), stats={"alerts": {"sent": 2, "failed": 0}}),
            CrawlRun(source_id=src.id, kind="incremental", status="running", pid=dead.pid),
            CrawlRun(source_id=src.id, kind="incremental", status="running", pid=os.getpid()),
            CrawlRun(kind="manual", status="finished", stats={"after_crawl": {"errors": {"alerts": "SMTPConnectError: down"}}}),
        ])
    out = CliRunner().invoke(main, ["runs", "--db", db.url])
    assert out.exit_code == 0, out.output
    cells = [line.split("│") for line in out.output.splitlines()]
    rows = {c[1].strip(): "│".join(c) for c in cells if len(c) > 2 and c[1].strip() in {"1", "2", "3", "4"}}
    assert "finished" in rows["1"] and "sent=2" in rows["1"] and "│ 7 " in rows["1"]
    assert "interrupted" in rows["2"] and "running" in rows["3"]
    assert "error: SMTPConnectError" in rows["4"]
    only = CliRunner().invoke(main, ["runs", "--source", "nowhere", "--db", db.url])
    assert only.exit_code == 0 and "fuyang" not in only.output
