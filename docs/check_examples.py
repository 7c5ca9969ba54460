"""Run the Python code samples of the documentation.

Every fenced block that opens with ```python in docs/*.md and docs/user-guide/*.md is
run. The blocks of one page run in order in one namespace (a later block may use the
names of an earlier one), each page in a fresh namespace, all in one process. Blocks in
other languages (```text, ```console, ```yaml ...) are not run, nor is a ```python block
right after a line ``<!-- check_examples: skip (reason) -->`` (for samples that need
downloaded data); skipped blocks are counted in the report.

Usage, from the repository root::

    .venv/bin/python docs/check_examples.py            # all pages
    .venv/bin/python docs/check_examples.py quickstart  # pages whose path contains it
    .venv/bin/python docs/check_examples.py -v          # also show what the samples print
    .venv/bin/python docs/check_examples.py --threads 2 # torch threads (default 1)

The samples run in a temporary working directory, with matplotlib's Agg backend, one
torch thread by default, and the progress bars off when stderr is not a terminal (they
would only print to stderr otherwise). Exit status 0 when every page
passed, 1 otherwise; the failing page, block and line are printed with the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sys
import tempfile
import time
import traceback
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
PAGES = ("*.md", "user-guide/*.md")
# An opening fence: up to 3 spaces, ``` or ~~~ (or longer), then "python" and attributes.
_OPEN = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")


def pages() -> list[Path]:
    """The documentation pages, in a stable order (top level first)."""
    found: list[Path] = []
    for pattern in PAGES:
        found += sorted(DOCS.glob(pattern))
    return found


def python_blocks(text: str) -> tuple[list[tuple[int, str]], int]:
    """Return ``(first line number, code)`` of every ```python block, and the skipped count."""
    blocks: list[tuple[int, str]] = []
    skipped = 0
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = _OPEN.match(lines[i])
        if not match:
            i += 1
            continue
        fence, indent = match["fence"], len(match["indent"])
        lang = match["lang"].lower()
        previous = lines[i - 1].strip() if i > 0 else ""
        skip = previous.startswith("<!--") and "check_examples: skip" in previous
        body: list[str] = []
        start = i + 2  # 1-based number of the first code line
        i += 1
        while i < len(lines):
            stripped = lines[i].strip()
            if stripped.startswith(fence[0] * len(fence)) and set(stripped) == {fence[0]}:
                break
            body.append(lines[i][indent:] if lines[i][:indent].isspace() else lines[i])
            i += 1
        i += 1  # skip the closing fence
        if lang == "python":
            if skip:
                skipped += 1
            else:
                blocks.append((start, "\n".join(body) + "\n"))
    return blocks, skipped


def run_page(path: Path, verbose: bool) -> tuple[bool, float, int, int]:
    """Run the blocks of one page; return (passed, seconds, blocks run, blocks skipped)."""
    blocks, skipped = python_blocks(path.read_text(encoding="utf-8"))
    name = str(path.relative_to(ROOT))
    namespace: dict[str, object] = {"__name__": "__docs__"}
    start = time.perf_counter()
    for line, code in blocks:
        output = io.StringIO()
        block_start = time.perf_counter()
        try:
            compiled = compile(code, f"{name}:{line}", "exec")
            with contextlib.redirect_stdout(output):
                exec(compiled, namespace)
        except BaseException:  # report SystemExit/KeyboardInterrupt from samples too
            print(f"FAILED  {name}, block starting at line {line}")
            if output.getvalue():
                print("--- output of the block ---")
                print(output.getvalue().rstrip())
            print("--- traceback ---")
            traceback.print_exc(file=sys.stdout)
            return False, time.perf_counter() - start, len(blocks), skipped
        if verbose:
            print(f"--- {name}:{line} ({time.perf_counter() - block_start:.1f} s) ---")
            if output.getvalue():
                print(output.getvalue().rstrip())
    return True, time.perf_counter() - start, len(blocks), skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("filter", nargs="*", help="run only pages whose path contains one of these")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the samples' output")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (default 1: the samples are small, and one thread keeps "
        "the run time steady on a busy machine)",
    )
    args = parser.parse_args(argv)

    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.path.insert(0, str(ROOT))  # the package, without installing it
    import torch

    torch.set_num_threads(args.threads)
    selected = [p for p in pages() if not args.filter or any(f in str(p) for f in args.filter)]
    if not selected:
        print("no page selected")
        return 1

    total = time.perf_counter()
    failed: list[str] = []
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="cnn_estimators-docs-") as workdir:
        os.chdir(workdir)  # checkpoints and other files written by samples land here
        try:
            for path in selected:
                ok, seconds, n_blocks, n_skipped = run_page(path, args.verbose)
                status = "ok    " if ok else "FAILED"
                skipped = f", {n_skipped} skipped" if n_skipped else ""
                print(
                    f"{status}  {path.relative_to(ROOT)}  "
                    f"({n_blocks} blocks{skipped}, {seconds:.1f} s)"
                )
                if not ok:
                    failed.append(str(path.relative_to(ROOT)))
        finally:
            os.chdir(cwd)
            with contextlib.suppress(Exception):
                import matplotlib.pyplot as plt

                plt.close("all")
    print(
        f"{len(selected) - len(failed)}/{len(selected)} pages passed in "
        f"{time.perf_counter() - total:.1f} s"
    )
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
