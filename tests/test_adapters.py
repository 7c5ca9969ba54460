"""Data adapters: datasets sliced by scikit-learn, lazy files, memmaps, ragged image lists,
predefined validation sets and the resize transformer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_images
from PIL import Image
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from torch.utils.data import Dataset, Subset, TensorDataset

from cnn_estimators import (
    CNNClassifier,
    ImageDatasetView,
    as_dataset,
    predefined_split,
)
from cnn_estimators.preprocessing import ResizeImages


def small(module="mlp", **params):
    defaults = dict(max_epochs=2, random_state=0, device="cpu", lr=1e-2, batch_size=8)
    if module == "mlp":
        defaults["module__hidden_sizes"] = (16,)
    defaults.update(params)
    return CNNClassifier(module, **defaults)


class CountingDataset(Dataset):
    """A map-style dataset that counts how many images were read."""

    def __init__(self, n=30, shape=(1, 8, 8), with_targets=True):
        self.X, y = make_images(n=n, shape=shape, dtype=np.uint8)
        self._y = y
        if with_targets:
            self.targets = list(y)
        self.reads = 0

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        self.reads += 1
        return self.X[i], int(self._y[i])


# ---------------------------------------------------------------- the view
def test_view_slices_without_loading_images():
    ds = CountingDataset()
    view = as_dataset(ds)
    assert view.shape == (30,) and len(view) == 30
    part = view[np.array([3, 1, 2])]
    assert isinstance(part, ImageDatasetView)
    np.testing.assert_array_equal(part.targets, ds._y[[3, 1, 2]])
    assert view[5:10][1:3].indices.tolist() == [6, 7]
    assert view[np.arange(30) % 2 == 0].indices.tolist() == list(range(0, 30, 2))
    assert view[np.array([4, 2]), ...].indices.tolist() == [4, 2]  # scikit-learn's form
    assert ds.reads == 0
    image = view[4]
    assert isinstance(image, torch.Tensor) and image.shape == (1, 8, 8) and ds.reads == 1


def test_scikit_learn_splits_views():
    ds = CountingDataset()
    view = as_dataset(ds)
    X_tr, X_te, _, y_te = train_test_split(
        view, view.targets, test_size=10, random_state=0, stratify=view.targets
    )
    assert isinstance(X_tr, ImageDatasetView) and len(X_tr) == 20 and len(X_te) == 10
    np.testing.assert_array_equal(X_te.targets, y_te)
    assert ds.reads == 0


@pytest.mark.parametrize(
    "make",
    [
        lambda X, y: TensorDataset(torch.from_numpy(X), torch.from_numpy(y)),
        lambda X, y: Subset(
            TensorDataset(torch.from_numpy(X), torch.from_numpy(y)), list(range(len(y)))
        ),
    ],
    ids=["TensorDataset", "Subset"],
)
def test_targets_from_dataset_attributes(make):
    X, y = make_images(n=12)
    np.testing.assert_array_equal(as_dataset(make(X, y)).targets, y)


def test_targets_fall_back_to_reading_samples():
    ds = CountingDataset(with_targets=False)
    np.testing.assert_array_equal(as_dataset(ds).targets, ds._y)


# ---------------------------------------------------------------- training on datasets
def test_in_memory_dataset_uses_its_array_directly():
    X, y = make_images(n=30, dtype=np.uint8)
    ds = TensorDataset(torch.from_numpy(X), torch.from_numpy(y))
    view = as_dataset(ds)
    assert view.in_memory_images() is ds.tensors[0]  # no copy for the whole set
    est = small().fit(ds)  # y read from the dataset
    ref = small().fit(X, y)
    np.testing.assert_array_equal(est.predict_proba(X), ref.predict_proba(X))


def test_cross_val_score_on_a_dataset_view():
    X, y = make_images(n=60, dtype=np.uint8)
    view = as_dataset(TensorDataset(torch.from_numpy(X), torch.from_numpy(y)))
    scores = cross_val_score(small(max_epochs=5), view, view.targets, cv=3)
    np.testing.assert_array_equal(scores, cross_val_score(small(max_epochs=5), X, y, cv=3))


def test_lazy_dataset_reads_only_what_training_needs():
    ds = CountingDataset(n=30)
    ds.transform = None  # no .data: must be read lazily
    est = small(max_epochs=2, validation_fraction=0, iterator_train__num_workers=0)
    est.fit(as_dataset(ds))
    # two epochs of 30 images, plus one image read to learn the shape; no label reads
    assert ds.reads == 2 * 30 + 1
    assert est.image_shape_ == (1, 8, 8)
    assert est.predict(as_dataset(ds)).shape == (30,)


def _image_folder(root, n_per_class=6, size=(10, 12)):
    from torchvision.datasets import ImageFolder

    rng = np.random.default_rng(0)
    for label in ("cats", "dogs"):
        (root / label).mkdir(parents=True)
        for i in range(n_per_class):
            pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            if label == "dogs":
                pixels[: size[0] // 2] = 255
            Image.fromarray(pixels).save(root / label / f"{i}.png")
    return ImageFolder(root)


def test_image_folder_trains_through_dataloader_workers(tmp_path):
    folder = _image_folder(tmp_path)
    view = as_dataset(folder)
    assert view.in_memory_images() is None
    np.testing.assert_array_equal(view.targets, [0] * 6 + [1] * 6)
    est = small("global_pool_cnn", validation_fraction=0).fit(view)  # 1 worker by default
    assert est.image_shape_ == (3, 10, 12)
    assert est.predict_proba(view[[0, 11]]).shape == (2, 2)
    scores = cross_val_score(
        small(
            "global_pool_cnn",
            validation_fraction=0,
            iterator_train__num_workers=0,
            iterator_valid__num_workers=0,
        ),
        view,
        view.targets,
        cv=2,
    )
    assert scores.shape == (2,)


def test_memmap_input(tmp_path):
    X, y = make_images(n=40, dtype=np.uint8)
    path = tmp_path / "images.u8"
    mm = np.memmap(path, dtype=np.uint8, mode="w+", shape=X.shape)
    mm[:] = X
    mm.flush()
    readonly = np.memmap(path, dtype=np.uint8, mode="r", shape=X.shape)
    est = small().fit(readonly, y)
    np.testing.assert_array_equal(est.predict_proba(readonly), small().fit(X, y).predict_proba(X))


# ---------------------------------------------------------------- images of several sizes
def _ragged(n=36, seed=0):
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for i in range(n):
        h, w = [(8, 8), (12, 10), (16, 16)][i % 3]
        img = rng.random((1, h, w), dtype=np.float32) * 0.2
        label = i % 2
        img[:, : h // 2 if label else h, :] += 0.8 * label
        images.append(img)
        labels.append(label)
    return images, np.array(labels)


def test_ragged_list_trains_by_size_and_predicts_in_order():
    X, y = _ragged()
    est = small("global_pool_cnn", max_epochs=5).fit(X, y)
    assert est.image_shape_ == (1, None, None)
    proba = est.predict_proba(X)
    one_by_one = np.vstack([est.predict_proba([x[None]][0]) for x in X])
    np.testing.assert_allclose(proba, one_by_one, rtol=1e-5, atol=1e-6)


def test_ragged_list_in_cross_validation_and_resize_pipeline():
    X, y = _ragged()
    pooled = cross_val_score(small("global_pool_cnn", module__global_pool="avg"), X, y, cv=3)
    resized = cross_val_score(
        make_pipeline(ResizeImages("smallest"), small("global_pool_cnn")), X, y, cv=3
    )
    assert pooled.shape == resized.shape == (3,)


def test_resize_images():
    X, _ = _ragged(n=6)
    out = ResizeImages("smallest").fit_transform(X)
    assert out.shape == (6, 1, 8, 8) and out.dtype == np.float32
    assert ResizeImages("largest").fit(X).size_ == (16, 16)
    assert ResizeImages((5, 7)).fit_transform(X).shape == (6, 1, 5, 7)
    u8 = [(x * 255).astype(np.uint8) for x in X]
    assert ResizeImages().fit_transform(u8).dtype == np.uint8
    with pytest.raises(ValueError, match="The 'size' parameter of ResizeImages"):
        ResizeImages("medium").fit(X)


# ---------------------------------------------------------------- predefined validation
def test_predefined_split_with_string_labels():
    X, y_idx = make_images(n=40)
    names = np.array(["no", "yes"])
    Xv, yv_idx = make_images(n=10, seed=1)
    est = small(max_epochs=3, train_split=predefined_split(Xv, names[yv_idx]))
    est.fit(X, names[y_idx])
    assert len(est.validation_scores_) == 3
    assert est.validation_scores_[-1] == pytest.approx(est.score(Xv, names[yv_idx]))


def test_predefined_split_with_unknown_labels():
    X, y = make_images(n=20)
    est = small(train_split=predefined_split(X[:4], np.array([0, 1, 2, 1])))
    with pytest.raises(ValueError, match=r"validation labels \[2\] are not among"):
        est.fit(X, y)


def test_ragged_integer_images_are_8_bit_pixels():
    X, y = _ragged(n=12)
    ints = [(x * 255).astype(np.int64) for x in X]
    est = small("global_pool_cnn").fit(ints, y)
    u8 = small("global_pool_cnn").fit([x.astype(np.uint8) for x in ints], y)
    np.testing.assert_array_equal(est.predict_proba(ints), u8.predict_proba(ints))
    bad = list(ints)
    bad[3] = bad[3] + 300
    with pytest.raises(ValueError, match=r"image 3\).*8-bit pixels"):
        small("global_pool_cnn").fit(bad, y)
