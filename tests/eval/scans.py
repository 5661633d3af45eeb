"""Scans rendered from the evaluation set the way a county office makes them: the report's tables
laid out again (Word layout, :mod:`tests.eval.evalset`), printed to PDF by LibreOffice, rendered at
150-300 dpi, turned by a fraction of a degree, with grain and JPEG compression.
Shared by tests/test_ocr.py and the benchmarks (bench/ocr_engines.py, bench/extraction_accuracy.py).
"""
from __future__ import annotations

import io
import random

import pypdfium2 as pdfium
from PIL import Image, ImageFilter

from . import evalset

#: (dpi, skew in degrees, JPEG quality): the scan qualities the benchmarks measure.
QUALITIES = ((150, 0.4, 70), (200, 0.6, 60), (300, 0.8, 50))


def scans(exp: dict, dpi: int, skew: float, quality: int, seed: int = 7) -> list[bytes]:
    """The report's pages as degraded JPEG scans."""
    pdf = pdfium.PdfDocument(evalset.to_pdf(evalset.to_docx(exp)))
    rng = random.Random(seed)
    pages = []
    for page in pdf:
        image = page.render(scale=dpi / 72).to_pil().convert("L")
        image = image.rotate(rng.choice((-1, 1)) * skew, expand=False, fillcolor=255, resample=Image.BICUBIC)
        noise = Image.effect_noise(image.size, 18).filter(ImageFilter.GaussianBlur(0.6))
        image = Image.blend(image, noise, 0.12)
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=quality, dpi=(dpi, dpi))
        pages.append(buf.getvalue())
    return pages


def as_tiff(pages: list[bytes]) -> bytes:
    """The scanned pages as one multi-page TIFF (what a scanner's "save all pages" writes)."""
    frames = [Image.open(io.BytesIO(p)) for p in pages]
    buf = io.BytesIO()
    frames[0].save(buf, "TIFF", save_all=True, append_images=frames[1:])
    return buf.getvalue()
