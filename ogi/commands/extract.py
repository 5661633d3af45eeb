"""``ogi extract FILE`` (one document, no database) and ``ogi reextract`` (the whole archive).

``ogi extract`` is how a researcher or a developer sees exactly what the pipeline makes of a
file: the full record as JSON (UTF-8, Chinese as is), or a readable summary with ``--format
text``. ``ogi reextract`` re-runs extraction over every archived version after a parser
improvement, each from its own original bytes, with a progress bar.
"""
from __future__ import annotations

import json
import mimetypes
import sys
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ogi.cli import Context, db_option, pass_context


@click.command("extract")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="json", show_default=True,
              help="json: the whole record; text: metadata, sections, values and checks, readable.")
@click.option("--region", default="", help="Configured region of the source, e.g. 安徽省/淮南市 (refined from the text).")
@click.option("--title", "title_hint", default="", help="Title as seen on the portal (used when the document's own is missing).")
@pass_context
def extract_cmd(ctx: Context, file: Path, fmt: str, region: str, title_hint: str) -> None:
    """Extract one report FILE (html, pdf, docx, doc, wps, txt, Markdown or an image) and print its record.

    The JSON record is the export's (``values``: canonical key -> number or null) plus
    ``cells``, how each value was read (raw text, unit, derived, ocr).

    Extraction runs within the configured time and memory budget (extract_timeout_s,
    extract_memory_mib), as in the worker.
    """
    from pipelines.bounded import Budget, ExtractionBugError, extract_bounded
    from pipelines.loaded import ExtractionError

    try:
        record = extract_bounded(
            file.read_bytes(), budget=Budget.from_settings(ctx.settings),
            content_type=mimetypes.guess_type(file.name)[0] or "", filename=file.name, region=region, title_hint=title_hint,
        )
    except ExtractionError as exc:
        raise click.ClickException(f"{file}: cannot extract: {exc.reason}") from exc
    except ExtractionBugError as exc:
        raise click.ClickException(f"{file}: internal error in extraction: {exc}") from exc
    out = json.dumps(record, ensure_ascii=False, indent=2) if fmt == "json" else render_text(record)
    sys.stdout.buffer.write(out.encode("utf-8") + b"\n")


def render_text(record: dict[str, Any]) -> str:
    """A record for reading in a terminal: metadata, section sizes, values, failed checks, warnings."""
    lines = [f"{name}: {record.get(name)}" for name in
             ("title", "agency", "region", "report_year", "template", "published_at", "format", "ocr", "ocr_confidence",
              "extractor_version")]
    lines.append("sections: " + ", ".join(f"{key} ({len(text)} chars)" for key, text in record["sections"].items()))
    lines.append(f"values ({len(record['cells'])}):")
    for key, cell in record["cells"].items():
        flags = "".join((" derived" if cell.get("derived") else "", " ocr" if cell.get("ocr") else ""))
        unit = f" {cell['unit']}" if cell.get("unit") else ""
        lines.append(f"  {key} = {_number(cell['value'])}{unit}  [{cell.get('raw', '')}]{flags}")
    failed = [c for c in record["checks"] if not c["ok"]]
    lines.append(f"checks: {len(record['checks']) - len(failed)} passed, {len(failed)} failed")
    lines += [f"  FAILED {c['rule']}: {c.get('detail', '')}" for c in failed]
    lines += [f"warning: {w}" for w in record["warnings"]]
    return "\n".join(lines)


def _number(value: float | None) -> str:
    if value is None:
        return "null"
    return str(int(value)) if float(value).is_integer() else str(value)


@click.command("reextract")
@db_option
@click.option("--outdated-only", is_flag=True, help="Skip versions already extracted by this extractor version.")
@pass_context
def reextract_cmd(ctx: Context, db_url: str | None, outdated_only: bool) -> None:
    """Re-run extraction over every archived report version (each from its own original bytes)."""
    from pipelines.bounded import Budget
    from pipelines.extract import EXTRACTOR_VERSION
    from pipelines.worker import reextract_all
    from storage.blobs import BlobStore
    from storage.models import ReportVersion

    columns = (TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns) as bar:
        task = bar.add_task(f"extracting ({EXTRACTOR_VERSION})", total=None)

        def advance(version: ReportVersion, status: str) -> None:
            bar.advance(task)

        counts = reextract_all(ctx.db(db_url), BlobStore(ctx.settings.blob_dir), outdated_only=outdated_only,
                               progress=advance, budget=Budget.from_settings(ctx.settings),
                               queued=lambda total: bar.update(task, total=total))
    click.echo(f"re-extracted {sum(counts.values())} versions with extractor {EXTRACTOR_VERSION}: "
               f"{counts.get('done', 0)} done, {counts.get('failed', 0)} failed")


def register(group: click.Group) -> None:
    group.add_command(extract_cmd)
    group.add_command(reextract_cmd)
