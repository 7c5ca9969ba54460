"""The worked examples of docs/user-guide/cli.md run and print what the page shows.

Every line ``$ cnn-estimators ...`` of a ```console block is run, in the order of the
page, in one temporary folder (so ``evaluate`` finds the model ``fit`` wrote). The lines
after it, up to the next ``$`` line or the end of the block, are its documented output:
each must appear in what the command prints, up to the numbers (scores and times depend
on the machine) and the number of dots scikit-learn pads its ``[CV] END`` lines with.
A block right after ``<!-- check_cli: skip (reason) -->`` is not run.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import torch

from cnn_estimators.cli import main

PAGE = Path(__file__).resolve().parents[1] / "docs" / "user-guide" / "cli.md"
PROMPT = "$ cnn-estimators "


def examples(text: str) -> list[tuple[str, list[str]]]:
    """``(arguments, documented output lines)`` of every command of the page, in order."""
    found: list[tuple[str, list[str]]] = []
    lines = text.splitlines()
    in_block = run = False
    output: list[str] | None = None  # the output lines of the block's current command
    for i, line in enumerate(lines):
        if line.startswith("```"):
            in_block, output = not in_block, None
            previous = lines[i - 1] if i else ""
            run = in_block and line.strip() == "```console" and "check_cli: skip" not in previous
            continue
        if not run:
            continue
        if line.startswith(PROMPT):
            output = []
            found.append((line[len(PROMPT) :], output))
        elif line.startswith("$"):
            output = None  # another program's output is not checked
        elif output is not None and line.strip():
            output.append(line)
    return found


def normalise(line: str) -> str:
    line = re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "#", line)
    line = re.sub(r"\.{2,}", "…", line)
    return " ".join(line.split())


def chains(found: list[tuple[str, list[str]]]) -> list[list[tuple[str, list[str]]]]:
    """The examples in groups that run together: a command that reads the run directory
    of an earlier one (``evaluate runs/fit-digits/model.ckpt``) joins its group."""
    groups: list[list[tuple[str, list[str]]]] = []
    outs: dict[str, int] = {}
    for args, output in found:
        words = shlex.split(args)
        reads = [g for out, g in outs.items() if any(w.startswith(out + "/") for w in words)]
        if reads:
            groups[reads[0]].append((args, output))
        else:
            groups.append([(args, output)])
        if "--out" in words:
            outs[words[words.index("--out") + 1]] = reads[0] if reads else len(groups) - 1
    return groups


EXAMPLES = examples(PAGE.read_text(encoding="utf-8"))
CHAINS = chains(EXAMPLES)


def test_every_subcommand_has_a_worked_example():
    commands = {shlex.split(args)[0] for args, _ in EXAMPLES}
    assert commands == {"list-models", "summary", "fit", "evaluate", "cv", "grid", "demo"}
    assert any("--recipes" in args for args, _ in EXAMPLES)
    assert [" ".join(shlex.split(a)[0] for a, _ in chain) for chain in CHAINS][2] == "fit evaluate"


@pytest.mark.parametrize(
    "chain", CHAINS, ids=[" ".join(shlex.split(chain[0][0])[:2]) for chain in CHAINS]
)
def test_worked_examples_print_what_the_page_shows(chain, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks; steady on a busy machine
    try:
        for args, documented in chain:
            code = main(shlex.split(args))
            printed = capsys.readouterr().out
            assert code == 0, f"cnn-estimators {args} exited with {code}"
            actual = {normalise(line) for line in printed.splitlines()}
            missing = [line for line in documented if normalise(line) not in actual]
            assert not missing, f"cnn-estimators {args} did not print:\n" + "\n".join(missing)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("[CV 1/2] END ....lr=0.01;, score=0.100 total time=   0.1s", "[CV #/#] END …lr=#;,"),
        ("  fit_time_s                 5.6761", "fit_time_s #"),
    ],
)
def test_normalise(line, expected):
    assert normalise(line).startswith(expected)
