"""CDXJ indexes of the WARC files (storage/replay.py), checked the way a replay tool uses them:
each line's file, offset and length must lead to the response record of its URL."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from w3lib.url import safe_url_string
from warcio.archiveiterator import ArchiveIterator

from storage.replay import PYWB_CONFIG, cdxj_path, index_warcs
from storage.warc import WarcStore

PAGES = {
    "http://www.example.gov.cn/zwgk/ndbg/index.html": "<html>年报栏目</html>",
    "http://www.example.gov.cn/zwgk/ndbg/202401/t20240120_1.html": "<html>2023年政府信息公开工作年度报告</html>",
    "http://www.example.gov.cn/附件/2023年报.pdf": "%PDF-1.7 fake",
}


def _write(store: WarcStore, pages: dict[str, str]) -> None:
    for url, body in pages.items():
        store.write_exchange(url, "GET", [("User-Agent", "t")], 200, [("Content-Type", "text/html")], body.encode())


def _lines(index: Path) -> list[tuple[str, str, dict]]:
    rows = []
    for line in index.read_text("utf-8").splitlines():
        key, stamp, block = line.split(" ", 2)
        rows.append((key, stamp, json.loads(block)))
    return rows


def test_every_response_is_indexed_where_a_replay_tool_finds_it(tmp_path: Path) -> None:
    store = WarcStore(tmp_path / "warc")
    _write(store, PAGES)
    store.close()
    assert index_warcs(tmp_path).indexed == 1
    (warc,) = (tmp_path / "warc").glob("*.warc.gz")
    rows = _lines(cdxj_path(warc))
    assert [r[0] for r in rows] == sorted(r[0] for r in rows), "sorted: replay tools binary-search the index"
    assert {r[2]["url"] for r in rows} == {safe_url_string(u) for u in PAGES}, "one line per response, URLs as URIs"
    assert all(key.startswith("cn,gov,example)/") for key, _, _ in rows), "SURT keys"
    for _, stamp, block in rows:
        assert block["filename"] == warc.name and block["status"] == "200" and len(stamp) == 14
        with warc.open("rb") as fh:
            fh.seek(int(block["offset"]))
            record = next(iter(ArchiveIterator(fh)))
            assert record.rec_type == "response" and record.rec_headers.get_header("WARC-Target-URI") == block["url"]
    assert (tmp_path / "config.yaml").read_text("utf-8") == PYWB_CONFIG


def test_only_new_or_grown_warc_files_are_indexed_again(tmp_path: Path) -> None:
    store = WarcStore(tmp_path / "warc")
    _write(store, dict(list(PAGES.items())[:1]))
    store.close()
    index_warcs(tmp_path)
    assert (index_warcs(tmp_path).indexed, index_warcs(tmp_path).current) == (0, 1)
    (warc,) = (tmp_path / "warc").glob("*.warc.gz")
    later = time.time() + 5
    with warc.open("ab") as fh:  # a crawl appended to the file after it was indexed
        fh.write(b"")
    os.utime(warc, (later, later))
    assert index_warcs(tmp_path).indexed == 1
    assert not list((tmp_path / "cdxj").glob(".*.tmp")), "no partial index left behind"


def test_a_body_cut_at_the_size_cap_is_marked_truncated(tmp_path: Path) -> None:
    """The server's Content-Length is kept (byte-faithful), so a replay tool must learn from the
    record that fewer bytes follow: WARC-Truncated, as Heritrix writes it. A HEAD has no body to cut."""
    store = WarcStore(tmp_path / "warc")
    url = "http://www.example.gov.cn/big.pdf"
    store.write_exchange(url, "GET", [], 200, [("Content-Length", "3145728"), ("Content-Type", "application/pdf")], b"")
    store.write_exchange(url, "HEAD", [], 200, [("Content-Length", "3145728")], b"")
    store.write_exchange(url, "GET", [], 200, [("Content-Length", "4")], b"%PDF")
    store.close()
    [path] = (tmp_path / "warc").glob("*.warc.gz")
    with path.open("rb") as fh:
        marks = [r.rec_headers.get_header("WARC-Truncated") for r in ArchiveIterator(fh) if r.rec_type == "response"]
    assert marks == ["length", None, None]
