"""The README's claims that can run: its Python example, its two commands and .ci/run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_readme_python_example_runs():
    namespace: dict = {}
    for block in _blocks("python"):
        exec(compile(block, "README.md", "exec"), namespace)
    search = namespace["search"]
    assert search.best_score_ > 0.8


def test_readme_opens_with_the_two_setup_commands_and_ci_runs_the_second():
    first = _blocks("bash")[0].strip().splitlines()
    assert len(first) == 2
    assert first[0].endswith("cnn-estimators demo")
    assert "pytest" in first[1]
    assert first[1] in (ROOT / ".ci" / "run").read_text()


def test_readme_and_docs_pictures_exist():
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README)
    assert "docs/images/accuracy_vs_time.png" in pictures
    for page in (ROOT / "docs").rglob("*.md"):
        for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text()):
            if not link.startswith("http"):
                assert (page.parent / link).is_file(), f"{page}: {link}"
    for link in pictures:
        assert (ROOT / link).is_file(), link
        assert (ROOT / link).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", link
