"""Replay with the standard tool: every archived 200 answer served back by pywb, byte for byte.

Reproduce: ``.venv/bin/python bench/pywb_replay.py [--data-dir DIR] [--pywb-venv DIR] [--port 8093]``
(about a minute; figures to ``bench/results/pywb_replay.txt``).

pywb pins old versions of libraries ogi-archive shares, so it is not a dependency: this script
gives it a virtual environment of its own (``--pywb-venv``, made with ``pip install pywb`` when
missing), exactly as the README's two replay commands do. Without ``--data-dir`` it archives
the demo portal first (``ogi demo`` in a temporary directory). Then it starts ``wayback`` in the
data directory, with the ``config.yaml`` and CDXJ indexes the archive keeps, and asks it for
the raw replay (``id_``) of every record the indexes list with status 200, comparing the SHA-1
of what pywb serves with the payload digest in the index: the bytes a visitor gets from the
replay are the bytes the portal sent (decompressed when the portal gzipped them, as a browser
sees them). A record the crawler cut at its size cap (``WARC-Truncated: length``, the server's
Content-Length kept as sent) cannot replay whole; it is counted apart. It also asks for the
rewritten replay (``mp_``) of each HTML page.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "pywb_replay.txt"


def pywb(venv: Path) -> Path:
    """The ``wayback`` command of a pywb environment, made on first use."""
    wayback = venv / "bin" / "wayback"
    if not wayback.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "pywb"], check=True)
    return wayback


def demo_archive(where: Path) -> Path:
    subprocess.run([str(ROOT / ".venv" / "bin" / "ogi"), "demo"], cwd=where, check=True, capture_output=True)
    return where / "data"


def truncated(data_dir: Path, record: dict) -> bool:
    with (data_dir / "warc" / record["filename"]).open("rb") as fh:
        fh.seek(int(record["offset"]))
        return next(iter(ArchiveIterator(fh))).rec_headers.get_header("WARC-Truncated") is not None


def indexed(data_dir: Path) -> list[dict]:
    """Every CDXJ line with status 200 (robots.txt included: it was archived too)."""
    lines = []
    for path in sorted((data_dir / "cdxj").glob("*.cdxj")):
        for line in path.read_text(encoding="utf-8").splitlines():
            _, timestamp, fields = line.split(" ", 2)
            record = {**json.loads(fields), "timestamp": timestamp}
            if record.get("status") == "200":
                lines.append(record)
    return lines


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except http.client.IncompleteRead as err:  # a truncated record whose Content-Length was kept
        return -1, err.partial


def sha1_base32(body: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode()


def wait_for(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            fetch(f"http://127.0.0.1:{port}/")
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"pywb did not answer on port {port} within {seconds} s")


def replay(data_dir: Path, wayback: Path, port: int) -> dict:
    records = indexed(data_dir)
    server = subprocess.Popen([str(wayback), "--port", str(port), "--bind", "127.0.0.1"], cwd=data_dir,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(port)
        same, cut, differ, rewritten, pages = 0, 0, [], 0, 0
        for r in records:
            status, body = fetch(f"http://127.0.0.1:{port}/ogi/{r['timestamp']}id_/{r['url']}")
            if status == 200 and sha1_base32(body) == r["digest"]:
                same += 1
            elif truncated(data_dir, r):
                cut += 1
            else:
                differ.append(f"{r['url']}: HTTP {status}")
            if r.get("mime") == "text/html":
                pages += 1
                status, body = fetch(f"http://127.0.0.1:{port}/ogi/{r['timestamp']}mp_/{r['url']}")
                rewritten += status == 200 and b"wombat" in body
    finally:
        server.terminate()
        server.wait(10)
    return {"records": len(records), "same": same, "truncated": cut, "differ": differ, "pages": pages, "rewritten": rewritten}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="an archive's data directory (default: archive the demo portal)")
    parser.add_argument("--pywb-venv", type=Path, default=Path.home() / "pywb")
    parser.add_argument("--port", type=int, default=8093)
    args = parser.parse_args()
    wayback = pywb(args.pywb_venv)
    version = subprocess.run([str(wayback), "--version"], capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or demo_archive(Path(tmp))
        figures = replay(data_dir, wayback, args.port)
    lines = [f"pywb replay ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC): {version}",
             f"command: bench/pywb_replay.py{' --data-dir ' + str(args.data_dir) if args.data_dir else ''}"
             f" (archive: {'given' if args.data_dir else 'ogi demo'})",
             f"records with status 200 in the CDXJ indexes: {figures['records']}",
             f"raw replay (id_) byte-identical to the indexed payload digest: {figures['same']}/{figures['records']}",
             f"cut at the crawler's size cap (WARC-Truncated: length), not replayable whole: {figures['truncated']}",
             f"HTML pages served rewritten for browsing (mp_, wombat inserted): {figures['rewritten']}/{figures['pages']}",
             *(f"  differs: {d}" for d in figures["differ"])]
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    sys.exit(1 if figures["differ"] else 0)


if __name__ == "__main__":
    main()
