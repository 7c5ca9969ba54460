"""The documentation: the site builds with --strict and every page's code runs."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None,
    reason="mkdocs is not installed (pip install -e '.[docs]')",
)
def test_docs_build_strict(tmp_path):
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "index.html").exists()
    assert (tmp_path / "api" / "index.html").exists()


def _pages_with_samples() -> list[str]:
    """The documentation pages that have Python samples, as paths from the root."""
    spec = importlib.util.spec_from_file_location(
        "check_examples", ROOT / "docs" / "check_examples.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    found = []
    for path in module.pages():
        blocks, skipped = module.python_blocks(path.read_text(encoding="utf-8"))
        if blocks or skipped:
            found.append(str(path.relative_to(ROOT)))
    return found


PAGES_WITH_SAMPLES = _pages_with_samples()


def test_the_pages_with_samples_are_found():
    # The parametrisation below must not shrink silently (a moved folder, a changed
    # pattern): these pages are known to have samples.
    assert {"docs/quickstart.md", "docs/user-guide/estimator.md"} <= set(PAGES_WITH_SAMPLES)
    assert len(PAGES_WITH_SAMPLES) >= 13


@pytest.mark.parametrize("page", PAGES_WITH_SAMPLES)
def test_docs_code_samples_run(page):
    """Each page's samples run, in order, in a fresh process (one page per test, so that
    pytest-xdist spreads the pages over the workers)."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "check_examples.py"), page],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = result.stdout[-4000:] + result.stderr[-3000:]
    assert result.returncode == 0, output
    assert "1/1 pages passed" in result.stdout, output
