"""The package's structure, as issue #15 set it (docs/architecture.md).

Each test guards one rule a restructuring could quietly undo: small modules, a short
``fit`` spine, private estimator state owned by one module, and one copy of skorch's
per-batch loop.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cnn_estimators"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_LINES = 600


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _name(path: Path) -> str:
    return str(path.relative_to(PACKAGE))


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_module_is_over_600_lines(path):
    n_lines = len(path.read_text(encoding="utf-8").splitlines())
    assert n_lines <= MAX_LINES, f"{_name(path)} has {n_lines} lines; split it by concern"


def test_fit_is_a_short_spine():
    estimator = _tree(PACKAGE / "estimator.py")
    (fit,) = [
        node
        for node in ast.walk(estimator)
        if isinstance(node, ast.FunctionDef) and node.name == "_fit"
    ]
    length = fit.end_lineno - fit.lineno + 1
    assert length <= 60, f"CNNClassifier._fit has {length} lines"


def _private_dict_keys(tree: ast.Module) -> set[str]:
    """String keys starting with "_" used on some ``<obj>.__dict__``."""
    keys = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript):
            target, key = node.value, node.slice
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("get", "pop", "setdefault")
            and node.args
        ):
            target, key = node.func.value, node.args[0]
        else:
            continue
        if (
            isinstance(target, ast.Attribute)
            and target.attr == "__dict__"
            and isinstance(key, ast.Constant)
            and isinstance(key.value, str)
            and key.value.startswith("_")
            and not key.value.startswith("__")
        ):
            keys.add(key.value)
    return keys


def test_private_dict_keys_are_owned_by_one_module():
    """A private key kept in an estimator's ``__dict__`` is read and written by one
    module; the others go through its methods (per-fit state lives in ``FitRun``)."""
    users = defaultdict(set)
    for path in MODULES:
        for key in _private_dict_keys(_tree(path)):
            users[key].add(_name(path))
    shared = {key: sorted(paths) for key, paths in users.items() if len(paths) > 1}
    assert not shared, f"private __dict__ keys used by several modules: {shared}"


def test_the_private_key_finder_finds_keys():
    """The rule above can fail: the finder sees each way of reaching ``__dict__``."""
    tree = ast.parse(
        'a.__dict__["_x"] = 1\nb.__dict__.get("_y")\nc.__dict__.pop("_z", None)\n'
        'd.__dict__.setdefault("_w", set())\ne.__dict__["public"]\nf.__dict__["__g"]\n'
    )
    assert _private_dict_keys(tree) == {"_x", "_y", "_z", "_w"}


def test_skorchs_batch_loop_is_copied_once():
    """Only one ``run_single_epoch`` iterates over batches itself; overrides delegate."""
    copies = []
    for path in MODULES:
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.FunctionDef) and node.name == "run_single_epoch":
                if any(isinstance(inner, ast.For) for inner in ast.walk(node)):
                    copies.append(f"{_name(path)}:{node.lineno}")
    assert len(copies) == 1, copies
