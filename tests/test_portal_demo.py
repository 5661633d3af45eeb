"""``ogi demo`` end to end: serve the bundled portal, crawl it, export; from any directory."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from portal_simulator import PortalServer
from portal_simulator.challenges import build_demo_site


def test_demo_archives_and_exports_every_report(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OGI_")}
    proc = subprocess.run([sys.executable, "-m", "ogi", "demo"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ogi serve" in proc.stdout and "ogi export --format csv" in proc.stdout
    records = [json.loads(line) for line in (tmp_path / "data" / "export.jsonl").read_text(encoding="utf-8").splitlines()]
    portal = build_demo_site()
    with PortalServer(portal):
        expected = portal.manifest().reports
    assert sorted((r["report_year"], r["template"]) for r in records) == sorted((r.year, r.template) for r in expected)
    # the development zone's reports sit behind the 412 challenge: they came through the browser, and it says so
    behind = [r for r in expected if r.site == "blocked"]
    assert behind and f"{len(behind)} of them sit behind a JavaScript challenge" in " ".join(proc.stdout.split())
    assert sum(1 for r in records if "browser" in (r["provenance"] or {}).get("fetched", "")) == len(behind)
    assert (tmp_path / "data" / "ogi.sqlite3").exists()
