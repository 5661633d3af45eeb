"""The layers (README, "Architecture") are enforced: ``lint-imports`` passes on the project and
fails on a copy of it with one import pointing the wrong way.

Why the copy: the contracts in pyproject.toml are only worth something if they catch a bad
import, so each case breaks one rule in a throw-away tree and reads import-linter's report.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("domain", "storage", "crawler", "pipelines", "alerts", "flow", "web", "ogi")
LAYERS = "Layers: interfaces > flow > crawl, extraction, alerts > storage > domain"
ABOVE_PRODUCT = "The scheduler and the portal simulator sit above the product"


def lint_imports(cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    """import-linter with the contracts in ``cwd``'s pyproject.toml, no cache left behind."""
    env = dict(os.environ, PYTHONPATH=str(pythonpath)) if pythonpath else None
    return subprocess.run([str(LINT_IMPORTS), "pyproject.toml", "--no-cache", "--no-logo"],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_project_keeps_its_contracts() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
    assert LAYERS in result.stdout and ABOVE_PRODUCT in result.stdout


@pytest.mark.parametrize(("module", "line", "contract", "reported"), [
    # the bottom layer importing the top one
    ("domain/schema.py", "import web.app  # wrong way", LAYERS, "domain.schema -> web.app"),
    # siblings in one layer are independent: extraction does not reach into the crawler
    ("pipelines/labels.py", "from crawler import scope  # wrong way", LAYERS, "pipelines.labels -> crawler.scope"),
    # the product does not start the scheduler
    ("storage/runs.py", "import scheduler  # wrong way", ABOVE_PRODUCT, "storage.runs -> scheduler"),
])
def test_a_wrong_way_import_is_caught(tmp_path: Path, module: str, line: str, contract: str, reported: str) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copy(ROOT / "scheduler.py", tmp_path)
    with (tmp_path / module).open("a", encoding="utf-8") as fh:
        fh.write(f"\n{line}\n")

    result = lint_imports(tmp_path, pythonpath=tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 broken" in result.stdout
    broken = result.stdout.split("Broken contracts", 1)[1]
    assert contract in broken and reported in broken
