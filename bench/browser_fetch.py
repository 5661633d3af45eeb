"""Browser fetching cost: the same pages through Chromium vs plain HTTP, and the browser's memory.

Reproduce (from the checkout, ~2 minutes on a 2-core machine)::

    .venv/bin/python bench/browser_fetch.py              # 3 rounds
    .venv/bin/python bench/browser_fetch.py --rounds 5 --pages 4

The portal is one TRS site (``portal_simulator.challenges.walled_site``) with every report of
the simulator's corpus and short list pages (``--pages`` entries each), served from this process
on 127.0.0.71. Each round crawls it three ways, each ``ogi crawl`` in its own process, with the
same politeness (``DOWNLOAD_DELAY=0``, 4 requests per host, ``OGI_BROWSER_PAGES=4``):

* ``plain``:   no wall, ``-s OGI_BROWSER=off`` (what every unwalled portal gets);
* ``cookies``: behind the 412 JavaScript challenge; Chromium passes it once, then every page and
  attachment is fetched plainly with the cookies it earned (the usual case);
* ``browser``: behind a challenge whose cookie works only with a browser's request headers, so
  every page is rendered in Chromium (attachments then stay blocked: they are not counted).

Pages per second: distinct HTML pages the portal answered 200 for, over the crawl's own seconds
(``ogi crawl --json``), so interpreter start-up is excluded. Memory: the peak resident set of the
crawl's process tree sampled every 0.1 s from /proc (PSS, RSS where PSS is unreadable), split into the crawl process itself, the
Playwright driver (node) and Chromium's processes (their sum). Medians go to stdout and
``bench/results/browser_fetch.txt``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "simulator"))

from portal_simulator import PortalServer  # noqa: E402 - after the path set-up above
from portal_simulator.builder import FIRST_NIGHT, NIGHT_TWO, Portal, _add_notices  # noqa: E402
from portal_simulator.challenges import JsChallenge, walled_site  # noqa: E402
from portal_simulator.site import Column  # noqa: E402

MODES = ("plain", "cookies", "browser")
POLITE = ["-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=4",
          "-s", "OGI_BROWSER_PAGES=4", "-s", "LOG_LEVEL=WARNING"]


class _Open:
    """No wall at all (the ``plain`` mode)."""

    @staticmethod
    def gate(request: object, path: str) -> None:
        return None


def portal(mode: str, page_size: int) -> Portal:
    wall = {"plain": _Open(), "cookies": JsChallenge(), "browser": JsChallenge(browser_only=True)}[mode]
    result = Portal(sites={})
    reports = FIRST_NIGHT["trs"] + FIRST_NIGHT["hanweb"] + NIGHT_TWO["trs"] + NIGHT_TWO["hanweb"]
    site = walled_site("site", "清源县经济开发区管委会", "127.0.0.71", wall, result, reports)  # type: ignore[arg-type]
    for n, (key, title, parent) in enumerate((("zn", "政府信息公开指南", "zfxxgk"), ("fzzf", "法治政府建设", "zwgk"),
                                              ("czyjs", "财政预决算", "zwgk"), ("zfgzbg", "政府工作报告", "zwgk"),
                                              ("xwzx", "新闻中心", None), ("news", "政务要闻", "xwzx")), start=101):
        site.add_column(Column(key, title, f"/col/col{n}/", parent))
    _add_notices(site, result)
    for column in site.columns.values():
        column.page_size = page_size
    result.sites["site"] = site
    return result


def _pss(proc: Path) -> int:
    """Proportional set size: shared pages split between the processes sharing them, so that the
    sum over Chromium's processes is the memory they hold together (their RSS sum counts shared pages often)."""
    try:
        rollup = (proc / "smaps_rollup").read_text()
    except OSError:
        return 0
    line = next((line for line in rollup.splitlines() if line.startswith("Pss:")), "")
    return int(line.split()[1]) * 1024 if line else 0


def _tree(root: int) -> dict[int, tuple[str, int]]:
    """pid -> (command name, PSS bytes) for ``root`` and its descendants."""
    parents: dict[int, int] = {}
    info: dict[int, tuple[str, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid = int(entry.name)
        parents[pid] = int(fields.get("PPid", "0").strip())
        info[pid] = (fields.get("Name", "").strip(), _pss(entry) or int(fields.get("VmRSS", "0 kB").split()[0]) * 1024)
    keep, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in keep]
        keep.update(children)
        frontier.extend(children)
    return {pid: info[pid] for pid in keep if pid in info}


def _peaks(proc: subprocess.Popen, peaks: dict[str, int]) -> None:
    while proc.poll() is None:
        tree = _tree(proc.pid)
        sums = {"crawl": tree.get(proc.pid, ("", 0))[1],
                "node": sum(rss for name, rss in tree.values() if name.startswith("node")),
                "chromium": sum(rss for name, rss in tree.values() if "chrom" in name.lower())}
        for key, value in sums.items():
            peaks[key] = max(peaks.get(key, 0), value)
        time.sleep(0.1)


def run(mode: str, page_size: int) -> dict[str, float]:
    site = portal(mode, page_size)
    with PortalServer(site) as server, tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "ogi", "crawl", server.base_urls["site"], "--db", f"sqlite:///{tmp}/ogi.sqlite3",
               "--json", "--no-extract", *POLITE, *(["-s", "OGI_BROWSER=off"] if mode == "plain" else [])]
        proc = subprocess.Popen(cmd, env={**os.environ, "OGI_DATA_DIR": tmp}, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
        peaks: dict[str, int] = {}
        sampler = threading.Thread(target=_peaks, args=(proc, peaks))
        sampler.start()
        out, _ = proc.communicate(timeout=600)
        sampler.join()
        summary = json.loads(out)
        pages = {e.path for e in server.log.entries() if e.status == 200 and (e.path.endswith(".html") or e.path == "/")}
    return {"pages": len(pages), "seconds": summary["seconds"], "pages_per_second": len(pages) / summary["seconds"],
            "reports": summary["reports_new"], **{f"{k}_mb": v / 2**20 for k, v in peaks.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pages", type=int, default=1, help="entries per list page")
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    for n in range(args.rounds):
        for mode in MODES if n % 2 == 0 else reversed(MODES):
            results[mode].append(run(mode, args.pages))
            print(mode, json.dumps({k: round(v, 2) for k, v in results[mode][-1].items()}), flush=True)
    lines = [f"browser_fetch: {args.rounds} rounds, medians; one TRS site on loopback, {args.pages} entries per list page",
             f"{'mode':8} {'pages':>5} {'reports':>7} {'seconds':>7} {'pages/s':>7} {'crawl MB':>8} {'node MB':>7} "
             f"{'chromium MB':>11}"]
    medians = {}
    for mode in MODES:
        m = {key: statistics.median(r[key] for r in results[mode]) for key in results[mode][0]}
        medians[mode] = m
        lines.append(f"{mode:8} {m['pages']:5.0f} {m['reports']:7.0f} {m['seconds']:7.2f} {m['pages_per_second']:7.1f} "
                     f"{m['crawl_mb']:8.0f} {m.get('node_mb', 0):7.0f} {m.get('chromium_mb', 0):11.0f}")
    plain = medians["plain"]["pages_per_second"]
    lines.append(f"pages/s relative to plain: cookies {medians['cookies']['pages_per_second'] / plain:.2f}, "
                 f"browser {medians['browser']['pages_per_second'] / plain:.2f}")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines.append(f"machine: {os.cpu_count()} CPUs, load average at the end {load} (other work shares them); {when}")
    text = "\n".join(lines) + "\n"
    print(text)
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "browser_fetch.txt").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
