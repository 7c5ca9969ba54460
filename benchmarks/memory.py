"""Peak memory while fitting 50,000 CIFAR-sized uint8 images (150 MB).

The data issue's target: fitting keeps the peak RSS growth under 2x the array's size
(uint8 images are converted per batch; a float32 copy of the set alone would be 4x).
Each measurement runs in a fresh process, so the peak (ru_maxrss) belongs to it alone:
the growth is the peak during ``fit`` minus the peak before it (interpreter, torch and
the array already loaded).

    python benchmarks/memory.py            # about 1-2 minutes on 2 cores
    python benchmarks/memory.py --tiny     # 5,000 images, for the test suite
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from _common import command_line, print_environment

CHILD = r"""
import json, resource, sys
import numpy as np
from cnn_estimators import CNNClassifier

n, module = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(0)
X = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
y = rng.integers(0, 10, n)
est = CNNClassifier(module, max_epochs=1, batch_size=256, random_state=0, device="cpu",
                    validation_fraction=0.1, progress_bar=False, module__hidden_sizes=(64,))
est.fit(X[:512], y[:512])  # allocator warm-up, so that its pools are in the baseline
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
est.fit(X, y)
est.predict_proba(X[:5000])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"array": X.nbytes, "before": before, "after": after}))
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50000)
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args(argv)
    if args.tiny:
        args.n = 5000
    print(f"command: {command_line()}\n")
    print_environment()
    env = dict(os.environ)
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(args.n), "mlp"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    m = json.loads(result.stdout.strip().splitlines()[-1])
    mb = 1024 * 1024
    growth = m["after"] - m["before"]
    print(
        "| images | array MB | peak before fit MB | peak during fit MB | growth MB | "
        "growth / array |"
    )
    print("|---|---|---|---|---|---|")
    print(
        f"| {args.n} x 3x32x32 uint8 | {m['array'] / mb:.0f} | {m['before'] / mb:.0f} | "
        f"{m['after'] / mb:.0f} | {growth / mb:.0f} | {growth / m['array']:.2f} |"
    )
    print("\ntarget: growth / array < 2.0 (a float32 copy of the whole set would be 4.0)")


if __name__ == "__main__":
    main()
