"""The examples in the package's docstrings run and print what they show."""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil
import tempfile

import pytest

import cnn_estimators

#: every module of the package (``__main__`` would run the command line)
MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(cnn_estimators.__path__, "cnn_estimators.")
    if not info.name.endswith("__main__")
)
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _examples() -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder(exclude_empty=True)
    found = []
    for name in ["cnn_estimators", *MODULES]:
        found += [t for t in finder.find(importlib.import_module(name)) if t.examples]
    return sorted(found, key=lambda t: t.name)


EXAMPLES = _examples()


def test_examples_are_found():
    # the public API's docstrings hold dozens of examples: finding few means lost ones
    assert len(EXAMPLES) > 80, [t.name for t in EXAMPLES]
    assert "cnn_estimators.estimator.CNNClassifier" in {t.name for t in EXAMPLES}


@pytest.mark.parametrize("test", EXAMPLES, ids=[t.name for t in EXAMPLES])
def test_docstring_example(test: doctest.DocTest, tmp_path, monkeypatch):
    # files and temporary folders an example writes go to pytest's temporary folder
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    report: list[str] = []
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    runner.run(test, out=report.append, clear_globs=True)
    assert runner.failures == 0, "".join(report)


def test_every_public_function_and_class_has_an_example():
    lacking = [
        name
        for name in cnn_estimators.__all__
        if (inspect.isfunction(obj := getattr(cnn_estimators, name)) or inspect.isclass(obj))
        and ">>>" not in (inspect.getdoc(obj) or "")
    ]
    assert lacking == []
