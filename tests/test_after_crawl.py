"""One after-crawl flow: a manual ``ogi crawl`` + ``ogi alerts send`` gives the nightly's digest.

Two archives follow the same portal. After a first full crawl the portal revises a report
(a figure in its table changes). Archive A is brought up to date by hand (``ogi crawl`` then
``ogi alerts send``), archive B by the scheduler's nightly (``scheduler.py --once``). Both
paths run :func:`flow.after_crawl.after_crawl`, so both digests carry the same value diffs.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from portal_simulator import PortalServer, build_site
from portal_simulator.builder import Portal
from sqlalchemy import select

import scheduler as sched
from alerts.subscriptions import subscribe
from domain.config import Settings
from flow.after_crawl import STEPS, after_crawl
from storage.db import Database
from storage.models import ChangeEvent, Source
from tests.mail import BASE_URL, SENDER, Collector

ROOT = Path(__file__).resolve().parents[1]
SH = ZoneInfo("Asia/Shanghai")
EVENING = datetime(2027, 1, 10, 20, 0, tzinfo=SH)
NIGHT = datetime(2027, 1, 11, 2, 15, tzinfo=SH)
LOCAL = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "CONCURRENT_REQUESTS_PER_DOMAIN": 8}


@pytest.fixture
def portal() -> Iterator[tuple[Portal, PortalServer]]:
    site = build_site(traps_on=False)
    with PortalServer(site) as server:
        yield site, server


def _archive(tmp_path: Path, name: str, server: PortalServer, smtp_port: int) -> tuple[Settings, Database]:
    settings = Settings(data_dir=str(tmp_path / name / "data"), database_url=f"sqlite:///{tmp_path / name / 'ogi.sqlite3'}",
                        smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_from=SENDER, base_url=BASE_URL)
    (tmp_path / name).mkdir()
    db = Database(settings.db_url)
    url = server.base_urls["trs"]
    with db.session() as s:
        s.add(Source(name="trs", start_urls=[url], allowed_domains=[urlsplit(url).hostname],
                     overrides={"schedule": {"crawl_settings": LOCAL}}))
        subscribe(s, f"{name}@example.org")
    return settings, db


def _env(settings: Settings) -> dict[str, str]:
    """The mail settings as a deployment gives them to every process: ``OGI_*`` variables."""
    return {**os.environ, "OGI_SMTP_HOST": settings.smtp_host, "OGI_SMTP_PORT": str(settings.smtp_port),
            "OGI_SMTP_FROM": settings.smtp_from, "OGI_BASE_URL": settings.base_url}


def _ogi(settings: Settings, *args: str) -> str:
    cmd = [sys.executable, "-c", "from ogi.cli import main; main()", "--data-dir", settings.data_dir, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=ROOT, env=_env(settings))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout


def _crawl(settings: Settings, kind: str) -> None:
    fast = [arg for name, value in LOCAL.items() for arg in ("-s", f"{name}={value}")]
    _ogi(settings, "crawl", "--source", "trs", "--kind", kind, "--db", settings.db_url, "--json", *fast)


def _digest_text(collector: Collector, recipient: str) -> list[list[str]]:
    """Each plain-text body sent to ``recipient`` as its sorted paragraphs (the crawl's order of
    discovery varies), without what differs per archive (report ids, unsubscribe tokens)."""
    texts = [m.get_body(("plain",)).get_content() for rcpt, msgs in collector.by_recipient().items()
             if rcpt == recipient for m in msgs]
    return [sorted(re.sub(r"/(unsubscribe|reports)/[\w-]+", r"/\1/ID", t).replace("\r\n", "\n").split("\n\n"))
            for t in texts]


def test_manual_crawl_then_alerts_send_matches_the_nightly(tmp_path: Path, portal: tuple[Portal, PortalServer],
                                                           collector: Collector, smtp_port: int) -> None:
    site, server = portal
    manual, manual_db = _archive(tmp_path, "manual", server, smtp_port)
    nightly, nightly_db = _archive(tmp_path, "nightly", server, smtp_port)
    for settings, db in ((manual, manual_db), (nightly, nightly_db)):
        _crawl(settings, "full")
        after_crawl(db, settings, steps=STEPS)  # the first digests (new reports) go out on both
    assert sched.run_once(nightly, EVENING, sched.Runner(nightly, nightly_db)) == []  # the jobs exist before the night

    site.revise_report("zhongxing-2020")
    _crawl(manual, "incremental")
    _ogi(manual, "alerts", "send", "--db", manual.db_url)
    proc = subprocess.run([sys.executable, str(ROOT / "scheduler.py"), "--once", "--now", NIGHT.isoformat(),
                           "--db", nightly.db_url, "--data-dir", nightly.data_dir],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, env=_env(nightly))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]

    manual_mail, nightly_mail = _digest_text(collector, "manual@example.org"), _digest_text(collector, "nightly@example.org")
    assert (len(manual_mail), len(nightly_mail)) == (2, 2), "one digest of new reports, one of the revision"
    assert manual_mail == nightly_mail
    revision = "\n".join(manual_mail[1])
    assert "与上一版本相比的变化" in revision and " -> " in revision, "the revision digest shows the value diffs"
    for db in (manual_db, nightly_db):
        with db.session() as s:
            revised = s.scalars(select(ChangeEvent).where(ChangeEvent.kind == "revised")).one()
            assert revised.details["changes"]["values_changed"] >= 1, "the diff the digest shows is the one written"
        db.dispose()
