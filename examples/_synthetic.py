"""Offline stand-in for CIFAR-10 shared by the examples: 10 classes of coloured shapes.

Not an example itself (``tests/test_examples.py`` skips files starting with ``_``); the
scripts in this folder import it when CIFAR-10 is not available locally.
"""

from __future__ import annotations

import numpy as np

from cnn_estimators import ImageData

SHAPES = [
    "disk",
    "ring",
    "square",
    "frame",
    "h-bars",
    "v-bars",
    "plus",
    "cross",
    "checker",
    "triangle",
]


def _shape_masks(kind: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Boolean masks (n, size, size) of shapes of the given kinds, randomly placed and scaled."""
    n = len(kind)
    grid = ((np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1)[None]  # pixel centres
    cy, cx = rng.uniform(-0.3, 0.3, (2, n, 1, 1)).astype(np.float32)
    r = rng.uniform(0.3, 0.75, (n, 1, 1)).astype(np.float32)
    dy, dx = (grid[:, :, None] - cy) / r, (grid[:, None, :] - cx) / r  # shape coordinates
    dist, box = np.hypot(dy, dx), np.maximum(abs(dy), abs(dx))
    inside, ady, adx = box <= 1, abs(dy), abs(dx)
    masks = [
        dist <= 1,  # disk
        (dist <= 1) & (dist >= 0.6),  # ring
        box <= 0.85,  # square
        inside & (box >= 0.65),  # frame
        inside & (np.floor((dy + 1) * 2.5) % 2 == 0),  # horizontal bars
        inside & (np.floor((adx + 0.2) * 2.5) % 2 == 0),  # vertical bars
        inside & (np.minimum(ady, adx) <= 0.25),  # plus
        inside & (abs(ady - adx) <= 0.3),  # diagonal cross
        inside & ((np.floor((dy + 1) * 2) + np.floor(adx * 2)) % 2 == 0),  # checker
        (dy <= 0.8) & (adx <= (dy + 1) / 1.8),  # triangle
    ]
    return np.choose(kind[:, None, None], masks)


def synthetic_shapes(n_train: int, n_test: int, size: int = 32, seed: int = 0) -> ImageData:
    """Offline stand-in for CIFAR-10: 10 classes of shapes, 3 x size x size uint8 images.

    A bright shape of a random colour on a dark background of a random colour, at a
    random position and scale, with pixel noise. Every class is unchanged by a horizontal
    flip, so CIFAR-10's augmentation (shifts and flips) keeps the labels right.
    """
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    y = rng.permutation(np.arange(n) % 10)
    X = np.empty((n, 3, size, size), dtype=np.uint8)
    for start in range(0, n, 1000):  # in chunks, to keep the memory small
        kind = y[start : start + 1000]
        mask = _shape_masks(kind, size, rng)[:, None]
        bg = rng.integers(0, 110, (len(kind), 3, 1, 1))
        fg = rng.integers(150, 256, (len(kind), 3, 1, 1))
        noise = rng.normal(0.0, 20.0, (len(kind), 3, size, size)).astype(np.float32)
        X[start : start + 1000] = np.clip(np.where(mask, fg, bg) + noise, 0, 255)
    return ImageData(
        X_train=X[:n_train],
        y_train=y[:n_train].astype(np.int64),
        X_test=X[n_train:],
        y_test=y[n_train:].astype(np.int64),
        class_names=list(SHAPES),
        name="synthetic_shapes",
        source=f"synthetic: coloured shapes, {size}x{size} RGB (offline stand-in)",
    )
