"""Dataset downloads: wide CSV / Parquet / JSONL (one row per report version), long CSV, codebook.

Every export takes the search page's parameters, so "download what I see" is one link.
CSV and JSONL stream while the database is read; Parquet is written to a temporary file
first (its footer comes last) and then sent.
"""
from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, StreamingResponse
from starlette.background import BackgroundTask

from storage import exports
from storage.search import SearchQuery
from web.deps import QueryDep
from web.responses import ERRORS, Codebook, file_response

router = APIRouter(tags=["exports"], responses=ERRORS)
CHUNK = 256 * 1024


def _stream(write: Callable[[io.StringIO], Iterator[None]]) -> Iterator[bytes]:
    """Run ``write`` and hand its output on in chunks as it grows."""
    buf = io.StringIO()
    for _ in write(buf):
        if buf.tell() >= CHUNK:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode("utf-8")


def _records(request: Request, query: SearchQuery, all_versions: bool) -> Iterator[dict[str, Any]]:
    with request.app.state.db.session() as session:
        yield from exports.iter_records(session, all_versions=all_versions, filters=query, with_ids=True)


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"', "X-Content-Type-Options": "nosniff"}


@router.get("/api/export.csv", response_class=StreamingResponse, responses=file_response("text/csv"),
            summary="Reports as CSV (wide: one row per version; long: one row per version x key)")
def export_csv(request: Request, query: SearchQuery = QueryDep,
               layout: str = Query("wide", pattern="^(wide|long)$"), all_versions: bool = False) -> StreamingResponse:
    def wide(buf: io.StringIO) -> Iterator[None]:
        writer = exports.SafeCsvWriter(buf)
        writer.writerow(exports.wide_columns(with_ids=True))
        for rec in _records(request, query, all_versions):
            writer.writerow(exports.wide_row(rec, with_ids=True))
            yield

    def long(buf: io.StringIO) -> Iterator[None]:
        with request.app.state.db.session() as session:
            writer = exports.SafeCsvWriter(buf)
            writer.writerow(exports.LONG_COLUMNS)
            for row in exports.iter_long_rows(session, filters=query):
                writer.writerow(row)
                yield

    body = _stream(wide if layout == "wide" else long)
    return StreamingResponse(body, media_type="text/csv; charset=utf-8", headers=_attachment(f"ogi-reports-{layout}.csv"))


@router.get("/api/export.jsonl", response_class=StreamingResponse, responses=file_response("application/x-ndjson"),
            summary="Reports as JSON lines (the `ogi export` record, plus report_id)")
def export_jsonl(request: Request, query: SearchQuery = QueryDep, all_versions: bool = False) -> StreamingResponse:
    def write(buf: io.StringIO) -> Iterator[None]:
        for rec in _records(request, query, all_versions):
            exports.write_jsonl([rec], buf)
            yield
    return StreamingResponse(_stream(write), media_type="application/x-ndjson; charset=utf-8",
                             headers=_attachment("ogi-reports.jsonl"))


@router.get("/api/export.parquet", response_class=FileResponse, responses=file_response("application/vnd.apache.parquet"),
            summary="Reports as Parquet (wide: one row per version, typed columns)")
def export_parquet(request: Request, query: SearchQuery = QueryDep, all_versions: bool = False) -> FileResponse:
    fd, path = tempfile.mkstemp(suffix=".parquet", prefix="ogi-export-")
    os.close(fd)
    exports.write_parquet(_records(request, query, all_versions), path, with_ids=True)
    return FileResponse(path, media_type="application/vnd.apache.parquet", filename="ogi-reports.parquet",
                        headers={"X-Content-Type-Options": "nosniff"}, background=BackgroundTask(os.unlink, path))


@router.get("/api/codebook", response_model=Codebook,
            summary="Every canonical key (label, templates, derived) and every consistency rule a record's checks can hold")
def codebook_json() -> dict[str, Any]:
    return {"ok": True, "keys": exports.codebook(), "rules": exports.codebook_rules()}


@router.get("/api/codebook.csv", response_class=StreamingResponse, responses=file_response("text/csv"),
            summary="The codebook as CSV")
def codebook_csv() -> StreamingResponse:
    buf = io.StringIO()
    exports.write_codebook_csv(buf)
    return StreamingResponse(iter([buf.getvalue().encode("utf-8")]), media_type="text/csv; charset=utf-8",
                             headers=_attachment("ogi-codebook.csv"))
