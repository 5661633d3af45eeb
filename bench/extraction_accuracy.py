"""Extraction accuracy on the hand-verified evaluation set, per input format.

For every report of tests/eval/expected: the original fixture (txt / run-on txt / PDF / a
scanned page) and, for reports whose tables we can lay out again, the same tables rendered
as Word-style HTML, DOCX, LibreOffice PDF, tab-separated and one-cell-per-line text. Each
is read the way a crawl reads it (pipelines.extract.extract_document when available, else
load_document + tables + checks) and scored:

* cell accuracy: expected cells read with the right value (null where the source prints
  null), plus "guesses": numbers returned for cells the source leaves undecidable;
* metadata accuracy: agency, report_year, template, published_at (originals only, when known);
* check precision / recall: failed rule instances against the expected ones, on the
  originals and on copies with one number changed (R3 and R4 variants).

Usage: .venv/bin/python bench/extraction_accuracy.py   (writes bench/results/extraction_accuracy.txt)
"""
from __future__ import annotations

import copy
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from eval import evalset  # noqa: E402
from pipelines.checks import run_checks  # noqa: E402
from pipelines.document import load_document  # noqa: E402
from pipelines.tables import extract_values  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "extraction_accuracy.txt"
VARIANTS = {
    "R3": ({"applications.result.disclosed.natural_person": 1, "applications.result.disclosed.research": -1},
           ["R3-result-total:applications.result.total.natural_person", "R3-result-total:applications.result.total.research"]),
    "R4": ({"appeals.review.upheld": 1}, ["R4-appeals-total:appeals.review.total"]),
}


def read(data: bytes, filename: str) -> tuple[dict, list[dict], dict | None]:
    """(values, checks, metadata or None) the way the pipeline produces them."""
    try:
        from pipelines.extract import extract_document

        record = extract_document(data, filename=filename)
        meta = {k: record.get(k) for k in ("agency", "report_year", "template", "published_at")}
        return record["values"], record["checks"], meta
    except ImportError:
        doc = load_document(data, filename=filename)
        result = extract_values(doc.tables, doc.text, ocr=doc.ocr)
        return result.values, run_checks(result.values, result.template, result.problems), None


def shapes(exp: dict):
    """(format, filename, bytes, expected) for the original and each rendering."""
    fixture = exp["fixture"]
    runon = exp["name"].startswith("pingtan")
    fmt = "txt-runon" if runon else "pdf-scan-ocr" if exp.get("ocr") else Path(fixture).suffix.lstrip(".")
    yield fmt, Path(fixture).name, evalset.fixture_bytes(exp), exp
    if runon or exp.get("ocr"):
        return
    variants = [("", exp)] + [(f"+{name}", _variant(exp, changes, rules)) for name, (changes, rules) in VARIANTS.items()]
    for suffix, version in variants:
        docx = evalset.to_docx(version)
        yield "html" + suffix, "report.html", evalset.to_html(version), version
        yield "docx" + suffix, "report.docx", docx, version
        yield "tsv" + suffix, "report.txt", evalset.to_tsv_text(version), version
        yield "txt-lines" + suffix, "report.txt", evalset.to_cell_lines_text(version), version
        if not suffix:
            yield "pdf-libreoffice", "report.pdf", evalset.to_pdf(docx), version


def _variant(exp: dict, changes: dict, rules: list[str]) -> dict:
    out = copy.deepcopy(exp)
    for key, delta in changes.items():
        out["values"][key] += delta
    out["failing_checks"] = sorted(set(exp["failing_checks"]) | set(rules))
    return out


def metadata_misses(meta: dict | None, expected: dict, original: bool) -> tuple[list[str], int]:
    """Fields got wrong, and how many were scored (renderings carry no publication date)."""
    if meta is None:
        return [], 0
    misses, total = [], 0
    for field, want in expected.items():
        if field == "published_at" and not original:
            continue
        got = meta.get(field)
        total += 1
        ok = got in want if field == "agency" else (
            str(got or "")[:10] == want if field == "published_at" else str(got) == str(want))
        if not ok:
            misses.append(f"{field}={got!r}")
    return misses, total


def main() -> None:
    stats: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    lines = []
    started = time.perf_counter()
    for exp in evalset.load_expected():
        for fmt, filename, data, version in shapes(exp):
            values, checks, meta = read(data, filename)
            score = evalset.compare(values, version)
            found = set(evalset.failing(checks)) if version.get("checks", True) else set()
            want = set(version["failing_checks"])
            s = stats[fmt.split("+")[0]]
            if "+" not in fmt:
                s["docs"] += 1
                s["cells"] += score["total"]
                s["right"] += score["right"]
                s["guesses"] += len(score["guesses"])
                s["undecidable"] += len(version.get("unverifiable", [])) + len(version.get("lost_in_source", []))
                misses, m_total = metadata_misses(meta, exp["metadata"], version is exp and filename in exp["fixture"])
                s["meta_right"] += m_total - len(misses)
                s["meta_total"] += m_total
                if misses:
                    lines.append(f"  {exp['name']} [{fmt}]: metadata {', '.join(misses)}")
            s["tp"] += len(found & want)
            s["fp"] += len(found - want)
            s["fn"] += len(want - found)
            if score["wrong"] or found != want:
                lines.append(f"  {exp['name']} [{fmt}]: {len(score['wrong'])} wrong cell(s) "
                             f"{list(score['wrong'].items())[:3]}; unexpected failures {sorted(found - want)[:3]}; "
                             f"missed failures {sorted(want - found)[:3]}")
    report = ["Extraction accuracy on the hand-verified evaluation set (tests/eval/expected)", ""]
    report.append(f"{'format':<16}{'docs':>5}{'cells':>8}{'cell acc':>10}{'guesses':>9}{'meta acc':>10}"
                  f"{'chk prec':>10}{'chk rec':>9}")
    for fmt, s in sorted(stats.items()):
        acc = s["right"] / s["cells"] if s["cells"] else float("nan")
        meta = f"{s['meta_right'] / s['meta_total']:.3f}" if s["meta_total"] else "n/a"
        prec = s["tp"] / (s["tp"] + s["fp"]) if s["tp"] + s["fp"] else 1.0
        rec = s["tp"] / (s["tp"] + s["fn"]) if s["tp"] + s["fn"] else 1.0
        report.append(f"{fmt:<16}{s['docs']:>5}{s['cells']:>8}{acc:>10.4f}{s['guesses']:>9}{meta:>10}{prec:>10.3f}{rec:>9.3f}")
    undecidable = {fmt: s["undecidable"] for fmt, s in stats.items() if s["undecidable"]}
    if undecidable:
        report += ["", "Cells whose boundaries the source itself lost (left null; not scored as right or wrong): "
                   + ", ".join(f"{fmt} {n}" for fmt, n in sorted(undecidable.items()))]
    report += ["", "Mismatches:" if lines else "Mismatches: none"] + lines
    report += ["", f"(check precision/recall include copies with one number changed: {', '.join(VARIANTS)}; "
               f"{time.perf_counter() - started:.0f} s)"]
    text = "\n".join(report)
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
