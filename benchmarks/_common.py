"""Shared helpers of the benchmarks: environment printout and a Fashion-MNIST loader.

The loader never downloads. When no local copy of Fashion-MNIST is found (Debian's
``dataset-fashion-mnist`` package installs one in /usr/share/datasets/fashion-mnist),
it prints :data:`SKIP_MESSAGE` and exits with code 0, so that a benchmark (and the test
that runs it) is skipped rather than failed on machines without the data.
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "SKIP_MESSAGE",
    "command_line",
    "cpu_flags",
    "cpu_model",
    "environment_lines",
    "load_fashion_mnist_or_skip",
    "loadavg",
    "print_environment",
]

#: First words of the line printed when the data are absent (the test looks for them).
SKIP_MESSAGE = "SKIPPED: Fashion-MNIST data not found"


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo ("unknown" where it is not available)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or "unknown"
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "cpu model") and value.strip():
            return value.strip()
    return platform.processor() or "unknown"


#: CPU flags that decide which kernels torch can use (bf16 and AMX matrix units above all)
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_flags() -> str:
    """Which of :data:`CPU_FLAGS` /proc/cpuinfo lists ("n/a" where it is not available)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "n/a"
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            present = set(value.split())
            return " ".join(flag for flag in CPU_FLAGS if flag in present) or "none of them"
    return "n/a"


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages from /proc/loadavg ("n/a" if unavailable)."""
    try:
        fields = Path("/proc/loadavg").read_text(encoding="utf-8").split()
    except OSError:
        return "n/a"
    return " ".join(fields[:3])


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command as typed: interpreter, script path relative to the cwd, arguments."""
    argv = list(sys.argv if argv is None else argv)
    script = argv[0] if argv else ""
    try:
        script = os.path.relpath(script)
    except ValueError:
        pass
    return shlex.join(["python", script, *argv[1:]])


def environment_lines() -> list[str]:
    """Lines describing the machine and the library versions (torch is imported here)."""
    import numpy as np
    import skorch
    import torch
    import torchvision

    import cnn_estimators

    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    return [
        f"date (local)      : {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"cpu               : {cpu_model()}",
        f"cpu flags         : {cpu_flags()} (of {', '.join(CPU_FLAGS)}); torch uses "
        f"{torch.backends.cpu.get_cpu_capability()}, bf16 kernels: "
        f"{'yes' if cnn_estimators.bf16_supported('cpu') else 'no'}",
        f"logical cpus      : {os.cpu_count()}",
        f"torch threads     : {torch.get_num_threads()} (OMP_NUM_THREADS={threads})",
        f"load average      : {loadavg()} (1/5/15 min, /proc/loadavg)",
        f"python            : {platform.python_version()} ({platform.platform()})",
        f"torch             : {torch.__version__}",
        f"torchvision       : {torchvision.__version__}",
        f"skorch            : {skorch.__version__}",
        f"numpy             : {np.__version__}",
        f"cnn_estimators    : {cnn_estimators.__version__}",
    ]


def print_environment(file=None) -> None:
    """Print :func:`environment_lines` as a block."""
    out = file or sys.stdout
    print("## Environment", file=out)
    for line in environment_lines():
        print(line, file=out)
    print(file=out, flush=True)


def load_fashion_mnist_or_skip(
    n_train: int, n_test: int, *, random_state: int = 0, debian_dir: str | None = None
):
    """Load stratified Fashion-MNIST subsets, or print :data:`SKIP_MESSAGE` and exit 0.

    Parameters
    ----------
    n_train, n_test : int
        Sizes of the stratified, seeded subsets.
    random_state : int, default=0
        Seed of the subsets.
    debian_dir : str, default=None
        Look for Debian's copy in this folder instead of /usr/share/datasets/fashion-mnist
        (used by the tests to check the skip path). The other places searched by
        :func:`cnn_estimators.load_fashion_mnist` (``$CNN_ESTIMATORS_DATA``,
        ``~/cnn_estimators_data``) are still searched; nothing is downloaded.

    Returns
    -------
    cnn_estimators.ImageData
    """
    from cnn_estimators.datasets import DEBIAN_FASHION_MNIST_DIRS, load_fashion_mnist

    if debian_dir is not None:
        # The loader reads this list at call time; replace its content for this process.
        DEBIAN_FASHION_MNIST_DIRS[:] = [Path(debian_dir)]
    try:
        return load_fashion_mnist(
            n_train=n_train, n_test=n_test, random_state=random_state, download=False
        )
    except FileNotFoundError as exc:
        print(
            f"{SKIP_MESSAGE}; this benchmark needs real data and was not run.\n"
            "Install it with: apt-get install dataset-fashion-mnist "
            "(files in /usr/share/datasets/fashion-mnist).\n"
            f"Loader message:\n{exc}",
            flush=True,
        )
        sys.exit(0)
