"""OCR engines and table approaches on scans rendered from the evaluation set.

Scans are made the way a county office makes them (tests/eval/scans.py: the report's tables
laid out again, printed to PDF by LibreOffice, rendered at 150-300 dpi, turned by a fraction of
a degree, with grain and JPEG compression). Measured, each through the same table reader
(``pipelines.stat_tables.extract_values``) and scored against the hand-checked values:

* full page, tesseract chi_sim: the whole page in one run, rules erased and lines cut into
  cells at the vertical rules (what the pipeline did before ``pipelines.scan_tables``);
* full page, RapidOCR (PP-OCR det + rec): its boxes laid out as text lines, cells split where
  the horizontal gap is wide;
* per cell, tesseract (the pipeline): ``pipelines.scan_tables`` finds the tables from their
  ruling lines and reads every cell on its own (chi_sim, and the digits-only eng model);
* per cell, RapidOCR: the same cells, read by RapidOCR (det + rec on each cell image, so
  numbers and labels wrapped over several lines are read); some 20 times slower than
  tesseract per cell, so measured at 200 dpi only unless ``--rapid-all``.

Seconds per page are wall time on this machine for everything after the page image (table
finding included), one page at a time.

RapidOCR is not a project dependency: it runs in its own virtualenv (``--rapidocr-python``,
default /tmp/ocrbench-venv/bin/python, made with ``pip install rapidocr_onnxruntime``, whose
wheel ships the Chinese PP-OCR models); without it only tesseract is measured.

Usage: .venv/bin/python bench/ocr_engines.py   (writes bench/results/ocr_engines.txt)
"""
from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the evaluation set

from eval import evalset
from eval.scans import QUALITIES, scans

from pipelines.loaded import LoadedDocument
from pipelines.ocr import add_tables, ocr_image, ocr_lines
from pipelines.scan_tables import OcrText
from pipelines.stat_tables import extract_values

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "ocr_engines.txt"
REPORTS = ("huaian_city_gov_2024", "seed_000_zhongxing_2020")
#: Runs in RapidOCR's virtualenv: reads lists of image paths (one JSON list a line), answers for
#: each image its boxes [[box, text, score], ...]; the models load once.
_RAPID = """
import json, sys
from rapidocr_onnxruntime import RapidOCR
engine = RapidOCR()
for line in sys.stdin:
    out = []
    for path in json.loads(line):
        result, _ = engine(path, use_cls=False)
        out.append([[box, text, float(score)] for box, text, score in (result or [])])
    print(json.dumps(out, ensure_ascii=False), flush=True)
"""

Approach = Callable[[list[Image.Image]], tuple[dict, float]]


class Rapid:
    """One RapidOCR process for the whole run, fed image files."""

    def __init__(self, python: str):
        self.proc = subprocess.Popen([python, "-c", _RAPID], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.tmp = Path(tempfile.mkdtemp(prefix="ogi-rapid-"))

    def boxes(self, images: list[Image.Image]) -> list[list]:
        paths = []
        for i, image in enumerate(images):
            paths.append(str(self.tmp / f"{i:04d}.png"))
            image.save(paths[-1])
        self.proc.stdin.write(json.dumps(paths) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def cells(self, crops: list[Image.Image]) -> list[OcrText]:
        """Each cell's lines top to bottom, the lowest box score as the confidence (0-100)."""
        out = []
        for boxes in self.boxes(crops):
            lines = [text for _, text, _ in sorted(boxes, key=lambda b: min(p[1] for p in b[0]))]
            out.append(OcrText("\n".join(lines), min((s for _, _, s in boxes), default=0) * 100 if boxes else None))
        return out

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def _score(doc: LoadedDocument) -> dict:
    return extract_values(doc.tables, doc.text, ocr=True).values


def per_cell(read_cells: Callable | None) -> Approach:
    def run(pages: list[Image.Image]) -> tuple[dict, float]:
        start = time.perf_counter()
        results = [ocr_image(page, read_cells=read_cells) for page in pages]
        doc = LoadedDocument("image", text="\n".join(r.text for r in results), ocr=True)
        add_tables(doc, results)
        return _score(doc), time.perf_counter() - start
    return run


def tesseract_page(pages: list[Image.Image]) -> tuple[dict, float]:
    start = time.perf_counter()
    text = "\n".join(line for page in pages for _, line in ocr_lines(page)[0])
    return _score(LoadedDocument("image", text=text, ocr=True)), time.perf_counter() - start


def rapid_page(rapid: Rapid) -> Approach:
    def run(pages: list[Image.Image]) -> tuple[dict, float]:
        start = time.perf_counter()
        text = "\n".join(_layout(boxes) for boxes in rapid.boxes(pages))
        return _score(LoadedDocument("image", text=text, ocr=True)), time.perf_counter() - start
    return run


def _layout(boxes: list) -> str:
    """Boxes into lines (by vertical overlap) and cells (a gap wider than one character: a tab)."""
    items = sorted(((min(p[1] for p in b), max(p[1] for p in b), min(p[0] for p in b), max(p[0] for p in b), t)
                    for b, t, _ in boxes), key=lambda i: (i[0] + i[1]) / 2)
    lines: list[list[tuple]] = []
    for item in items:
        middle = (item[0] + item[1]) / 2
        if lines and lines[-1][0][0] <= middle <= lines[-1][0][1]:
            lines[-1].append(item)
        else:
            lines.append([item])
    out = []
    for line in lines:
        line.sort(key=lambda i: i[2])
        height = max(i[1] - i[0] for i in line)
        cells = [line[0][4]]
        for before, item in zip(line, line[1:], strict=False):
            cells.append(("\t" if item[2] - before[3] > height * 0.8 else "") + item[4])
        out.append("".join(cells))
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rapidocr-python", default="/tmp/ocrbench-venv/bin/python")
    parser.add_argument("--rapid-all", action="store_true", help="per-cell RapidOCR at every scan quality")
    args = parser.parse_args()
    approaches: list[tuple[str, Approach]] = [("full page, tesseract", tesseract_page),
                                              ("per cell, tesseract", per_cell(None))]
    rapid = Rapid(args.rapidocr_python) if Path(args.rapidocr_python).exists() else None
    if rapid:
        approaches += [("full page, rapidocr", rapid_page(rapid)), ("per cell, rapidocr", per_cell(rapid.cells))]
    rows = []
    for name in REPORTS:
        exp = evalset.expected(name)
        for dpi, skew, quality in QUALITIES:
            pages = [Image.open(io.BytesIO(p)) for p in scans(exp, dpi, skew, quality)]
            for approach, run in approaches:
                if approach == "per cell, rapidocr" and dpi != 200 and not args.rapid_all:
                    continue
                cells, seconds = run(pages)
                score = evalset.compare(cells, exp)
                rows.append((name, f"{dpi} dpi, {skew}°, q{quality}", approach, len(pages), score["right"], score["total"],
                             seconds / len(pages)))
                print(rows[-1], flush=True)
    if rapid:
        rapid.close()
    lines = ["OCR engines and table approaches on scans rendered from the evaluation set (bench/ocr_engines.py)", "",
             f"{'report':<26}{'scan':<22}{'approach':<24}{'pages':>6}{'cells right':>14}{'s/page':>8}"]
    lines += [f"{r[0]:<26}{r[1]:<22}{r[2]:<24}{r[3]:>6}{f'{r[4]}/{r[5]}':>14}{r[6]:>8.1f}" for r in rows]
    lines.append("")
    for approach in dict.fromkeys(r[2] for r in rows):
        mine = [r for r in rows if r[2] == approach]
        right, total = sum(r[4] for r in mine), sum(r[5] for r in mine)
        pages = sum(r[3] for r in mine)
        lines.append(f"{approach:<24}{right}/{total} cells ({right / total:.1%}), "
                     f"{sum(r[6] * r[3] for r in mine) / pages:.1f} s/page")
    if not rapid:
        lines.append(f"RapidOCR not measured: {args.rapidocr_python} not found")
    text = "\n".join(lines)
    print(text)
    RESULTS.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
