"""Fault soak: nights over loopback portals with random kill -9 until they are done; nothing lost, nothing twice.

Reproduce: ``.venv/bin/python bench/fault_soak.py [--kills 20] [--hosts 6] [--seed 16] [--db URL]``
(about 4 minutes with the defaults; figures to ``bench/results/fault_soak.txt``).

The archive starts with two county portals and one more joins every day (so every night has new
reports to crawl, extract and mail). Each night is ``scheduler.py --once --now <night>`` in its
own process, as cron runs it: one
``ogi crawl`` process per batch of sources, then the after-crawl flow in the scheduler process
(extraction in bounded child processes, diffs, index, alerts to a real SMTP server with two
subscribers). While the kills last, every night one process is killed with SIGKILL at a random
moment, chosen at random among what runs then: a crawl process, an extraction child, or the
scheduler itself (which runs the extraction and the alerts). A killed night is left as the
machine would leave it (a crawl process orphaned by a killed scheduler runs to its end), and
the next night starts; between nights a day passes (digests' leases and back-offs expire, as
they would by the next night). After the last kill, nights go on until one completes cleanly.

Then the archive is compared with the portals' manifest and the SMTP server's mailbox:
reports lost, reports/versions/events duplicated, events mailed twice or never, e-mails
(Message-IDs) duplicated, versions left unextracted, and ``ogi verify``'s fixity audit.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from portal_simulator import PortalServer, build_scale_site  # noqa: E402 - after the path set-up
from sqlalchemy import func, select  # noqa: E402

from storage.db import Database  # noqa: E402
from storage.fixity import audit  # noqa: E402
from storage.models import ChangeEvent, CrawlRun, Digest, Report, ReportVersion, Source  # noqa: E402
from tests.mail import BASE_URL, SENDER, Collector, free_port, start_smtp, sub  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "fault_soak.txt"
FIRST_NIGHT = datetime(2027, 1, 11, 2, 15, tzinfo=ZoneInfo("Asia/Shanghai"))
LOCAL = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "CONCURRENT_REQUESTS_PER_DOMAIN": 4}
SUBSCRIBERS = ("a@example.org", "b@example.org")
MAX_NIGHTS = 80


# -- the processes of a night ------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def kind_of(pid: int, scheduler: int) -> str | None:
    """What a process of the night is: the scheduler, a crawl, an extraction child (None: something else)."""
    cmd = _cmdline(pid)
    if pid == scheduler:
        return "scheduler"
    if "pipelines.bounded" in cmd:
        return "extraction"
    if "ogi.cli" in cmd and " crawl " in cmd:
        return "crawl"
    return None


def night_processes(scheduler: int, known: set[int]) -> dict[int, str]:
    """The scheduler, its descendants, and the crawls it started (still ours after it died)."""
    tree, found, todo = _children(), {}, [scheduler, *known]
    while todo:
        pid = todo.pop()
        if pid in found or not Path(f"/proc/{pid}").exists():
            continue
        kind = kind_of(pid, scheduler)
        if kind is not None:
            found[pid] = kind
        todo.extend(tree.get(pid, []))
    return found


TARGETS = {"crawl": 0.4, "extraction": 0.4, "scheduler": 0.2}


class Killer(threading.Thread):
    """Kills one process of the chosen kind at a random moment after one appears (none if none does)."""

    def __init__(self, scheduler: int, target: str, delay: float) -> None:
        super().__init__(daemon=True)
        self.scheduler, self.target, self.delay = scheduler, target, delay
        self.known: set[int] = set()
        self.killed: str | None = None
        self.cancel = threading.Event()

    def run(self) -> None:
        deadline = None
        while not self.cancel.wait(0.05):
            procs = night_processes(self.scheduler, self.known)
            self.known |= {pid for pid, kind in procs.items() if kind == "crawl"}
            victims = sorted(pid for pid, kind in procs.items() if kind == self.target)
            if victims and deadline is None:
                deadline = time.monotonic() + self.delay
            if deadline is not None and time.monotonic() >= deadline and victims:
                try:
                    os.kill(victims[int(self.delay * 1000) % len(victims)], signal.SIGKILL)
                except ProcessLookupError:
                    continue
                self.killed = self.target
                return


def wait_for(pids: set[int], timeout: float = 180) -> None:
    """Orphaned crawls run to their end before the next night (as they would on a real machine)."""
    deadline = time.monotonic() + timeout
    while any(Path(f"/proc/{pid}").exists() and kind_of(pid, -1) == "crawl" for pid in pids):
        if time.monotonic() > deadline:
            raise RuntimeError(f"orphaned crawls still running after {timeout} s: {sorted(pids)}")
        time.sleep(0.2)


# -- the soak ----------------------------------------------------------------------------------


def night(db_url: str, data_dir: Path, when: datetime, env: dict[str, str], kill: tuple[str, float] | None,
          log: Path) -> tuple[int, str | None, float]:
    """One ``scheduler.py --once`` night; its exit status, what was killed, its seconds."""
    started = time.monotonic()
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, str(ROOT / "scheduler.py"), "--once", "--now", when.isoformat(),
                                 "--db", db_url, "--data-dir", str(data_dir)],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    killer = Killer(proc.pid, *kill) if kill is not None else None
    if killer:
        killer.start()
    code = proc.wait()
    if killer:
        killer.cancel.set()
        killer.join()
        wait_for(killer.known)
    return code, killer.killed if killer else None, time.monotonic() - started


def a_day_passes(db: Database) -> None:
    """Leases of killed senders and back-offs end by the next night."""
    with db.session() as s:
        for digest in s.scalars(select(Digest).where(Digest.next_attempt_at.is_not(None))):
            digest.next_attempt_at -= timedelta(days=1)


def done(db: Database, expected: int) -> bool:
    with db.session() as s:
        archived = s.scalar(select(func.count()).select_from(Report))
        pending = s.scalar(select(func.count()).select_from(ReportVersion).where(ReportVersion.extraction_status == "pending"))
        unsent = s.scalar(select(func.count()).select_from(Digest).where(Digest.status.not_in(("sent", "cancelled"))))
        running = s.scalar(select(func.count()).select_from(CrawlRun).where(CrawlRun.status == "running"))
    return archived >= expected and not pending and not unsent and not running


def figures(db: Database, data_dir: Path, manifest: object, collector: Collector) -> dict[str, object]:
    """Everything that could be lost or twice, measured against the manifest and the mailbox."""
    truth = {r.url: r.sha256 for r in manifest.reports}
    with db.session() as s:
        reports = {r.url: [v.sha256 for v in r.versions] for r in s.scalars(select(Report))}
        events = Counter((e.report_id, e.version_id, e.kind) for e in s.scalars(select(ChangeEvent)))
        report_events = {k: n for k, n in events.items() if k[2] in ("new", "revised", "withdrawn")}
        statuses = Counter(s.scalars(select(ReportVersion.extraction_status)))
        killed_extractions = s.scalar(select(func.count()).select_from(ReportVersion).where(
            ReportVersion.extraction_status == "failed", ReportVersion.extraction_error.contains("SIGKILL")))
        fixity = audit(s, data_dir)
        new_events = {report_id for (report_id, _, kind) in report_events if kind == "new"}
    mailed: dict[str, Counter] = {}
    for rcpt, messages in collector.by_recipient().items():
        mailed[rcpt] = Counter(int(m) for msg in messages for m in re.findall(r"/reports/(\d+)\b(?!/versions)",
                                                                              msg.get_body(("plain",)).get_content()))
    message_ids = Counter(msg["Message-ID"] for msg in collector.messages())
    return {
        "reports expected": len(truth),
        "reports archived": len(reports),
        "reports lost": sum(1 for url, sha in truth.items() if sha not in reports.get(url, [])),
        "reports not on the portals": sum(1 for url in reports if url not in truth),
        "versions duplicated": sum(len(v) - len(set(v)) for v in reports.values()),
        "versions beyond one per report": sum(len(v) - 1 for v in reports.values() if v),
        "report events": sum(report_events.values()),
        "report events duplicated": sum(n - 1 for n in report_events.values()),
        "event kinds": dict(Counter(k[2] for k in report_events)),
        "e-mails received": sum(message_ids.values()),
        "e-mails duplicated (Message-ID)": sum(n - 1 for n in message_ids.values()),
        "events mailed twice to a subscriber": sum(n - 1 for c in mailed.values() for n in c.values() if n > 1),
        "events never mailed to a subscriber": sum(len(new_events - set(mailed.get(rcpt, {}))) for rcpt in SUBSCRIBERS),
        "versions extracted": dict(statuses),
        "extractions failed because their process was killed": killed_extractions,
        "fixity audit": "intact" if fixity.ok else f"{len(fixity.problems)} problem(s): {fixity.problems[:5]}",
    }


def add_sources(db: Database, sites: list[tuple[str, str]]) -> None:
    with db.session() as s:
        for name, url in sites:
            s.add(Source(name=name, start_urls=[url], allowed_domains=[urlsplit(url).hostname],
                         overrides={"schedule": {"crawl_settings": LOCAL}}))


def soak(db_url: str, data_dir: Path, kills: int, hosts: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    db = Database(db_url)
    port = free_port()
    collector = Collector()
    smtp = start_smtp(port, collector)
    env = {**os.environ, "OGI_SMTP_HOST": "127.0.0.1", "OGI_SMTP_PORT": str(port), "OGI_SMTP_FROM": SENDER,
           "OGI_BASE_URL": BASE_URL}
    lines: list[str] = []
    try:
        with PortalServer(build_scale_site(hosts=hosts, first_address=210, departments=2)) as portals:
            waiting = list(portals.base_urls.items())
            add_sources(db, waiting[:2])
            del waiting[:2]
            for address in SUBSCRIBERS:
                sub(db, address)
            manifest = portals.manifest()
            killed: Counter = Counter()
            clean_night, started, log = None, time.monotonic(), data_dir / "nights.log"
            night(db_url, data_dir, FIRST_NIGHT - timedelta(hours=6), env, None, log)  # the evening start makes the jobs
            lengths: list[float] = []
            night_kills: list[str | None] = []
            for n in range(MAX_NIGHTS):
                when = FIRST_NIGHT + timedelta(days=n)
                kill = None
                if sum(killed.values()) < kills:  # a crawl or extraction a few seconds in, the scheduler anywhere
                    target = rnd.choices(list(TARGETS), weights=list(TARGETS.values()))[0]
                    clean = [t for t, k in zip(lengths, night_kills, strict=True) if k is None]
                    kill = (target, rnd.uniform(0.3, max(clean, default=8)) if target == "scheduler" else rnd.uniform(0, 3))
                code, what, seconds = night(db_url, data_dir, when, env, kill, log)
                lengths.append(seconds)
                night_kills.append(what)
                if what:
                    killed[what] += 1
                print(f"night {n + 1}: exit {code}, {seconds:.1f} s, kill: {kill[0] if kill else '-'}"
                      f" -> {what or 'none'}", flush=True)
                a_day_passes(db)
                if waiting:  # a county joins the archive every day: each night has new reports to crawl, extract, mail
                    add_sources(db, [waiting.pop(0)])
                elif sum(killed.values()) >= kills and what is None and code == 0 and done(db, len(manifest.reports)):
                    clean_night = n + 1
                    break
            elapsed = time.monotonic() - started
            result = figures(db, data_dir, manifest, collector)
    finally:
        smtp.stop()
        db.dispose()
    lines += [f"portals: {hosts} loopback sites; subscribers: {len(SUBSCRIBERS)}; seed {seed}",
              f"kill -9: {sum(killed.values())} ({', '.join(f'{k} {v}' for k, v in sorted(killed.items()))})",
              f"nights: {len(lengths)} ({'the run completed on night ' + str(clean_night) if clean_night else 'NOT COMPLETED'}),"
              f" {elapsed:.0f} s in all",
              *(f"{name}: {value}" for name, value in result.items())]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--hosts", type=int, default=16)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--db", help="database URL (default: SQLite in the temporary directory)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ogi-soak-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        db_url = args.db or f"sqlite:///{Path(tmp) / 'ogi.sqlite3'}"
        lines = soak(db_url, data_dir, args.kills, args.hosts, args.seed)
    text = "\n".join([f"bench/fault_soak.py --kills {args.kills} --hosts {args.hosts} --seed {args.seed}"
                      f" ({'SQLite' if not args.db else args.db.split(':', 1)[0]}), {datetime.now():%Y-%m-%d}", *lines])
    print(text)
    if not args.db:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
