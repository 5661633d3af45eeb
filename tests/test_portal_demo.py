"""``ogi demo`` end to end: serve the bundled portal, crawl it, export; from any directory."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ogi.portal import PortalServer, build_site


def test_demo_archives_and_exports_every_report(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OGI_")}
    proc = subprocess.run([sys.executable, "-m", "ogi", "demo"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ogi serve" in proc.stdout and "ogi export --format csv" in proc.stdout
    records = [json.loads(line) for line in (tmp_path / "data" / "export.jsonl").read_text(encoding="utf-8").splitlines()]
    portal = build_site(traps_on=False)
    with PortalServer(portal):
        expected = portal.manifest().reports
    assert sorted((r["report_year"], r["template"]) for r in records) == sorted((r.year, r.template) for r in expected)
    assert (tmp_path / "data" / "ogi.sqlite3").exists()
