"""Extraction accuracy on the hand-verified evaluation set, per input format.

For every report of tests/eval/expected: the original fixture (txt / run-on txt / PDF / a
scanned page) and, for reports whose tables we can lay out again, the same tables rendered
as Word-style HTML, DOCX, LibreOffice PDF, tab-separated and one-cell-per-line text. Each
is read the way a crawl reads it (pipelines.extract.extract_document when available, else
load_document + tables + checks) and scored:

* cell accuracy: expected cells read with the right value (null where the source prints
  null), plus "guesses": numbers returned for cells the source leaves undecidable;
* metadata accuracy: agency, report_year, template, published_at (originals only, when known);
* check precision / recall: failed rule instances (R1-R5) against the expected ones, on the
  originals and on copies with one number changed (R3 and R4 variants);
* the researchers' rules: R6/R7 false alarms on reports the hand check found consistent, and
  R6 on a copy with a planted negative count; R8/R9 (cross-year) on every pair of consecutive
  years of one agency in the set, as is (consistent) and with a planted inconsistency;
* Markdown: every report whose tables we can lay out again also as converters' Markdown
  (pipe tables; HTML tables; tables cut by page breaks with a wrapped header row; rows whose
  labels were lost), scored like the other formats;
* scans: the same reports printed and scanned (tests/eval/scans.py: 200 dpi, turned 0.6
  degrees, grain, JPEG quality 60, one multi-page TIFF), read by OCR; seconds per page are
  the whole extraction's (the engines and table approaches: bench/ocr_engines.py).

Usage: .venv/bin/python bench/extraction_accuracy.py   (writes bench/results/extraction_accuracy.txt)
"""
from __future__ import annotations

import copy
import io
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the evaluation set lives with the tests

from eval import evalset
from eval.markdown import to_markdown
from eval.scans import as_tiff, scans
from PIL import Image

from pipelines.checks import cross_year, run_checks
from pipelines.document import load_document
from pipelines.stat_tables import extract_values

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "extraction_accuracy.txt"
OLD_RULES = ("R1", "R2", "R3", "R4", "R5")
NEW_RULES = ("R6", "R7")
#: The scan quality of the scanned set: (dpi, skew in degrees, JPEG quality).
SCAN = (200, 0.6, 60)
#: Markdown as converters make it (tests/eval/markdown.py); saved as .txt, recognised by content.
MARKDOWN = {
    "md-pipe": {},
    "md-html": {"html_tables": True},
    "md-pagebreak": {"page_breaks": (8, 20), "split_header": True},
    "md-nolabels": {"drop_labels": ("一、本年新收", "2.重复申请", "3.要求提供", "（六）其他处理", "四、结转")},
}
VARIANTS = {
    "R3": ({"applications.result.disclosed.natural_person": 1, "applications.result.disclosed.commercial": -1},
           ["R3-result-total:applications.result.total.natural_person", "R3-result-total:applications.result.total.commercial"]),
    "R4": ({"appeals.review.upheld": 1}, ["R4-appeals-total:appeals.review.total"]),
}


def read(data: bytes, filename: str) -> tuple[dict, list[dict], dict | None]:
    """(values, checks, metadata or None) the way the pipeline produces them."""
    try:
        from pipelines.extract import extract_document

        record = extract_document(data, filename=filename)
        meta = {k: record.get(k) for k in ("agency", "report_year", "template", "published_at")}
        return record["cells"], record["checks"], meta
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
            for name, options in MARKDOWN.items():
                yield name, "report.txt", to_markdown(version, **options), version
            yield "scan-tiff", "scan.tif", as_tiff(scans(version, *SCAN)), version


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
            start = time.perf_counter()
            values, checks, meta = read(data, filename)
            if "scan" in fmt:
                stats[fmt]["seconds"] += time.perf_counter() - start
                stats[fmt]["pages"] += _pages(data, filename)
            score = evalset.compare(values, version)
            failing = evalset.failing(checks) if version.get("checks", True) else []
            found = {f for f in failing if f.startswith(OLD_RULES)}
            want = set(version["failing_checks"])
            s = stats[fmt.split("+")[0]]
            if not want and "+" not in fmt:  # a consistent report: any R6/R7 failure is a false alarm
                new_alarms = [f for f in failing if f.startswith(NEW_RULES)]
                s["new_fp"] += len(new_alarms)
                lines += [f"  {exp['name']} [{fmt}]: false alarm {f}" for f in new_alarms]
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
    report += ["", "OCR, whole extraction per scanned page: " + ", ".join(
        f"{fmt} {s['seconds'] / s['pages']:.1f} s ({s['pages']} pages)" for fmt, s in sorted(stats.items()) if s["pages"])]
    report += ["", "Mismatches:" if lines else "Mismatches: none"] + lines
    report += ["", "R6/R7 false alarms on consistent reports, per format: "
               + ", ".join(f"{fmt} {s['new_fp']}" for fmt, s in sorted(stats.items()))]
    report += ["", *planted_negative(), *cross_year_scores()]
    report += ["", f"(check precision/recall (R1-R5) include copies with one number changed: {', '.join(VARIANTS)}; "
               f"{time.perf_counter() - started:.0f} s)"]
    text = "\n".join(report)
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text + "\n", encoding="utf-8")


def _pages(data: bytes, filename: str) -> int:
    if filename.endswith(".pdf"):
        import pypdfium2 as pdfium

        return len(pdfium.PdfDocument(data))
    return getattr(Image.open(io.BytesIO(data)), "n_frames", 1)


def planted_negative() -> list[str]:
    """R6 recall: a copy of every consistent report with one count printed as -1."""
    hit = total = 0
    for exp in evalset.load_expected():
        if exp["failing_checks"] or exp.get("ocr") or exp["name"].startswith("pingtan"):
            continue
        planted = copy.deepcopy(exp)
        planted["values"]["applications.result.disclosed.research"] = -1
        _, checks, _ = read(evalset.to_tsv_text(planted), "report.txt")
        total += 1
        hit += any(c["rule"] == "R6-impossible" and c["ok"] is False and "research = -1" in c["detail"] for c in checks)
    return [f"R6 recall on planted negative counts: {hit}/{total}"]


def cross_year_scores() -> list[str]:
    """R8/R9 on every consecutive pair of one agency (hand-checked values): as is, and with the later
    year's 上年结转 (total column) and 现行有效 (规章) each one higher (each must fail once)."""
    reports = {(exp["metadata"]["agency"][-1], exp["metadata"]["report_year"]): exp for exp in evalset.load_expected()
               if not exp.get("ocr")}
    alarms = checked = hits = planted = 0
    for (agency, year), later in sorted(reports.items()):
        earlier = reports.get((agency, year - 1))
        if earlier is None:
            continue
        results = cross_year(later["values"], earlier["values"], year=year, agency=agency)
        checked += sum(r["ok"] is not None for r in results)
        alarms += sum(r["ok"] is False for r in results)
        bad = copy.deepcopy(later["values"])
        bad["applications.carried_over.total"] = (bad.get("applications.carried_over.total") or 0) + 1
        planted += 1
        if None not in (bad.get("active.rules.in_force"), earlier["values"].get("active.rules.in_force")):
            bad["active.rules.in_force"] += 1
            planted += 1
        hits += sum(r["ok"] is False for r in cross_year(bad, earlier["values"], year=year, agency=agency))
    return [f"R8/R9 on consecutive years (hand-checked values): {checked} instances checked, {alarms} false alarms; "
            f"planted inconsistencies found {hits}/{planted}"]


if __name__ == "__main__":
    main()
