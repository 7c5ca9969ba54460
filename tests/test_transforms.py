"""Batch transforms: per-image randomness, exactness, reproducibility and presets."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF

from cnn_estimators import CNNClassifier
from cnn_estimators.transforms import (
    MEAN_STD,
    Compose,
    Normalize,
    RandomAffine,
    RandomCrop,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomRotation,
    Resize,
    ToRGB,
    augmentation,
    normalize,
)

PRESETS = ["cifar10", "cifar10_resized_crop", "mnist", "fashion_mnist", "imagenet"]


def random_transforms():
    return [
        RandomHorizontalFlip(),
        RandomCrop(padding=4),
        RandomCrop(padding=2, padding_mode="reflect"),
        RandomCrop(padding=3, padding_mode="replicate"),
        RandomResizedCrop(),
        RandomAffine(degrees=20, translate=(0.1, 0.1), scale=(0.9, 1.1), fill=0.5),
        RandomRotation(),
    ]


def all_transforms():
    return [
        *random_transforms(),
        Normalize((0.5,), (0.25,)),
        Resize((10, 12)),
        ToRGB(),
        Compose(RandomHorizontalFlip(), RandomCrop(padding=1)),
    ]


def ids(transforms):
    return [type(t).__name__ for t in transforms]


def seeded(transform, x, seed=0):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return transform(x)


def same_images(n=64, shape=(3, 16, 16), seed=0, dtype=torch.float32):
    """``n`` copies of one random image."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, *shape, generator=g, dtype=dtype).repeat(n, 1, 1, 1)


def n_distinct(batch):
    return len({tuple(img.flatten().tolist()) for img in batch})


def window_offsets(out, padded):
    """The (top, left) of the window of ``padded`` that each output image equals exactly."""
    h, w = out.shape[-2:]
    windows = padded.unfold(2, h, 1).unfold(3, w, 1)  # (B, C, nh, nw, h, w)
    offsets = []
    for i in range(out.shape[0]):
        match = (windows[i] == out[i][:, None, None]).all(-1).all(-1).all(0)
        hits = match.nonzero().tolist()
        assert hits, f"output {i} is not a window of the padded input"
        offsets.append(tuple(hits[0]))
    return offsets


# ---------------------------------------------------------------------------
# shapes, dtypes, inputs
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("transform", all_transforms(), ids=ids(all_transforms()))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_batch_and_single_image_keep_shape_and_dtype(transform, dtype):
    x = torch.rand(5, 1, 16, 16, dtype=dtype)
    out = transform(x)
    assert out.dtype == dtype
    expected = {"Resize": (5, 1, 10, 12), "ToRGB": (5, 3, 16, 16)}.get(
        type(transform).__name__, (5, 1, 16, 16)
    )
    assert out.shape == expected
    single = transform(x[0])
    assert single.dtype == dtype
    assert single.shape == expected[1:]


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match=r"\(B, C, H, W\) or \(C, H, W\).*\(4, 4\)"):
        RandomHorizontalFlip()(torch.rand(4, 4))
    with pytest.raises(TypeError, match=r"expects a torch\.Tensor"):
        RandomCrop()(np.zeros((1, 3, 8, 8)))
    with pytest.raises(TypeError, match="floating point"):
        RandomAffine(10)(torch.zeros(2, 1, 8, 8, dtype=torch.uint8))
    # Flips and crops only move pixels, so they work on any dtype.
    x = torch.randint(0, 255, (4, 1, 8, 8), dtype=torch.uint8)
    assert RandomHorizontalFlip(p=1)(x).equal(x.flip(-1))
    assert RandomCrop(padding=2)(x).dtype == torch.uint8


# ---------------------------------------------------------------------------
# RandomHorizontalFlip
# ---------------------------------------------------------------------------


def test_flip_draws_per_image():
    x = same_images()
    out = seeded(RandomHorizontalFlip(), x)
    flipped = (out == x.flip(-1)).flatten(1).all(1)
    kept = (out == x).flatten(1).all(1)
    assert (flipped | kept).all()
    assert flipped.any() and kept.any()


def test_flip_rate_is_p():
    x = same_images(n=64, shape=(1, 4, 4))
    t = RandomHorizontalFlip(p=0.3)
    with torch.random.fork_rng():
        torch.manual_seed(1)
        rate = np.mean([(t(x) != x).flatten(1).any(1).float().mean().item() for _ in range(50)])
    assert abs(rate - 0.3) < 0.03


def test_flip_p_one_and_zero_are_exact():
    x = torch.rand(8, 3, 5, 7)
    assert RandomHorizontalFlip(p=1.0)(x).equal(x.flip(-1))
    assert RandomHorizontalFlip(p=0.0)(x).equal(x)


# ---------------------------------------------------------------------------
# RandomCrop
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate"])
def test_crop_outputs_are_windows_at_per_image_offsets(mode):
    x = same_images(n=64, shape=(2, 10, 12))
    t = RandomCrop(padding=3, padding_mode=mode, fill=0.25)
    out = seeded(t, x)
    assert out.shape == x.shape
    if mode == "constant":
        padded = F.pad(x, (3, 3, 3, 3), value=0.25)
    else:
        padded = F.pad(x, (3, 3, 3, 3), mode=mode)
    offsets = window_offsets(out, padded)
    assert len(set(offsets)) > 10
    assert {top for top, _ in offsets} == set(range(7))  # 64 draws reach every row offset


def test_crop_size_and_asymmetric_padding():
    x = torch.rand(32, 1, 9, 11)
    t = RandomCrop(size=(6, 8), padding=(1, 2, 3, 4))  # left, top, right, bottom
    out = seeded(t, x)
    assert out.shape == (32, 1, 6, 8)
    offsets = window_offsets(out, F.pad(x, (1, 3, 2, 4)))
    assert all(0 <= top <= 15 - 6 and 0 <= left <= 15 - 8 for top, left in offsets)
    # (horizontal, vertical) pairs as in torchvision
    assert RandomCrop(padding=(2, 1))._pad == (2, 2, 1, 1)


def test_crop_without_padding_is_the_identity():
    x = torch.rand(8, 3, 7, 9)
    assert RandomCrop(padding=0)(x).equal(x)


def test_crop_errors():
    with pytest.raises(ValueError, match="cannot crop 20x20 from 8x8 images padded to 10x10"):
        RandomCrop(size=20, padding=1)(torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match="padding smaller than the image"):
        RandomCrop(padding=8, padding_mode="reflect")(torch.rand(2, 1, 8, 8))


# ---------------------------------------------------------------------------
# RandomResizedCrop
# ---------------------------------------------------------------------------


def test_resized_crop_full_box_is_identity_or_plain_resize():
    x = torch.rand(4, 3, 8, 8)
    full = RandomResizedCrop(scale=(1.0, 1.0), ratio=(1.0, 1.0))
    torch.testing.assert_close(full(x), x, atol=1e-6, rtol=0)
    up = RandomResizedCrop(size=(16, 12), scale=(1.0, 1.0), ratio=(1.0, 1.0))
    expected = F.interpolate(x, size=(16, 12), mode="bilinear", align_corners=False)
    torch.testing.assert_close(up(x), expected, atol=1e-6, rtol=0)


def test_resized_crop_stays_inside_the_image_and_draws_per_image():
    # A constant image stays constant: every sample lies inside the image (no zero padding
    # blended in at the borders), even for extreme aspect ratios that must be clamped.
    ones = torch.ones(64, 1, 12, 20)
    out = seeded(RandomResizedCrop(scale=(0.05, 1.0), ratio=(0.2, 5.0)), ones)
    torch.testing.assert_close(out, ones, atol=1e-6, rtol=0)
    x = same_images(shape=(3, 16, 16))
    out = seeded(RandomResizedCrop(), x)
    assert n_distinct(out) == 64
    assert out.min() >= x.min() - 1e-6 and out.max() <= x.max() + 1e-6


# ---------------------------------------------------------------------------
# RandomAffine / RandomRotation
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_affine_without_motion_is_the_identity(dtype):
    x = torch.rand(4, 3, 7, 10, dtype=dtype)
    torch.testing.assert_close(RandomAffine(degrees=0, translate=None)(x), x, atol=1e-6, rtol=0)
    torch.testing.assert_close(RandomAffine(fill=0.7)(x), x, atol=1e-6, rtol=0)


@pytest.mark.parametrize("k", [1, -1, 2])
def test_rotation_by_multiples_of_90_degrees_equals_rot90(k):
    x = torch.rand(3, 2, 6, 6)
    out = RandomRotation(degrees=(90 * k, 90 * k))(x)
    torch.testing.assert_close(out, torch.rot90(x, k, dims=(-2, -1)), atol=1e-5, rtol=0)


def test_affine_matches_torchvision_conventions():
    x = torch.rand(2, 3, 7, 11)  # non-square: normalised coordinates are anisotropic
    bilinear = TF.InterpolationMode.BILINEAR
    out = RandomRotation(degrees=(30, 30))(x)
    torch.testing.assert_close(out, TF.rotate(x, 30.0, interpolation=bilinear), atol=1e-5, rtol=0)
    # torchvision's affine angle is clockwise, its rotate angle counter-clockwise.
    out = RandomAffine(degrees=(20, 20), scale=(1.5, 1.5))(x)
    expected = TF.affine(
        x, angle=-20.0, translate=[0, 0], scale=1.5, shear=[0.0, 0.0], interpolation=bilinear
    )
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


def test_affine_translation_is_bounded_and_fill_is_used():
    # A 45-degree rotation leaves the corners outside the source image: they take fill.
    out = RandomRotation(degrees=(45, 45), fill=0.5)(torch.zeros(2, 1, 16, 16))
    assert out[:, :, 0, 0].eq(0.5).all() and out[:, :, 8, 8].eq(0).all()
    # Integer shifts of at most 2 pixels: each output is the input moved by (dy, dx).
    x = same_images(n=64, shape=(1, 10, 10))
    t = RandomAffine(translate=(0.2, 0.2))
    out = seeded(t, x)
    assert n_distinct(out) == 64
    with torch.random.fork_rng():
        torch.manual_seed(0)
        theta = t._theta(x)
    shift_x, shift_y = -theta[:, 0, 2] * 10 / 2, -theta[:, 1, 2] * 10 / 2
    assert shift_x.abs().max() <= 2 and shift_y.abs().max() <= 2
    assert shift_x.abs().max() > 1.5 and shift_y.abs().max() > 1.5


def test_rotation_draws_per_image():
    x = same_images(shape=(1, 12, 12))
    assert n_distinct(seeded(RandomRotation(30), x)) == 64


# ---------------------------------------------------------------------------
# reproducibility
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("transform", random_transforms(), ids=ids(random_transforms()))
def test_seeded_generator_makes_transforms_reproducible(transform):
    x = torch.rand(16, 3, 12, 12)
    a, b, c = seeded(transform, x, 0), seeded(transform, x, 0), seeded(transform, x, 1)
    assert a.equal(b)
    assert not a.equal(c)


# ---------------------------------------------------------------------------
# Normalize, Resize, ToRGB, Compose
# ---------------------------------------------------------------------------


def column(values, dtype=torch.float32):
    return torch.tensor(values, dtype=dtype)[:, None, None]


def test_normalize_values_broadcasting_and_dtype():
    x = torch.rand(4, 3, 5, 5)
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 2.0)
    torch.testing.assert_close(Normalize(mean, std)(x), (x - column(mean)) / column(std))
    # One value for every channel, in either argument.
    torch.testing.assert_close(Normalize((0.5,), (0.25,))(x), (x - 0.5) / 0.25)
    torch.testing.assert_close(Normalize(0.5, std)(x[0]), (x[0] - 0.5) / column(std))
    x64 = x.double()
    out = Normalize(mean, std)(x64)
    assert out.dtype == torch.float64
    expected = (x64 - column(mean, torch.float64)) / column(std, torch.float64)
    # float32 buffers (movable to MPS), so the constants carry float32 rounding.
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
    t = Normalize(mean, std)
    assert t.mean.shape == (3, 1, 1) and set(t.state_dict()) == {"mean", "std"}


def test_normalize_channel_mismatch_and_bad_parameters():
    with pytest.raises(ValueError, match=r"3 channels, but the images have 1 channel"):
        normalize("cifar10")(torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match=r"same number of channels.*got 3 and 2"):
        Normalize((0.1, 0.2, 0.3), (0.5, 0.5))
    with pytest.raises(ValueError, match="'std' parameter of Normalize"):
        Normalize((0.1,), (0.0,))
    with pytest.raises(ValueError, match="'mean' parameter of Normalize"):
        Normalize((), (1.0,))


def test_resize_sizes():
    x = torch.rand(2, 1, 28, 28)
    assert Resize(32)(x).shape == (2, 1, 32, 32)
    assert Resize((16, 20))(x[0]).shape == (1, 16, 20)
    expected = F.interpolate(x, size=(14, 14), mode="bilinear", antialias=True)
    torch.testing.assert_close(Resize(14)(x), expected)
    with pytest.raises(ValueError, match="'size' parameter of Resize"):
        Resize(0)


def test_to_rgb():
    x = torch.rand(2, 1, 4, 4)
    out = ToRGB()(x)
    assert out.shape == (2, 3, 4, 4) and all(out[:, c].equal(x[:, 0]) for c in range(3))
    rgb = torch.rand(2, 3, 4, 4)
    assert ToRGB()(rgb) is rgb
    with pytest.raises(ValueError, match="1 or 3 channels; got 2"):
        ToRGB()(torch.rand(2, 2, 4, 4))


def test_compose_applies_in_order_and_accepts_a_list():
    x = torch.rand(3, 1, 4, 4)
    a, b = Normalize((1.0,), (1.0,)), Normalize((0.0,), (2.0,))
    torch.testing.assert_close(Compose(a, b)(x), (x - 1) / 2)
    torch.testing.assert_close(Compose([b, a])(x), x / 2 - 1)
    assert isinstance(Compose(a, b), torch.nn.Sequential) and len(Compose([a, b])) == 2
    with pytest.raises(TypeError, match="transform 1 is"):
        Compose(a, lambda v: v)


# ---------------------------------------------------------------------------
# parameter validation
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (
            lambda: RandomHorizontalFlip(p=2),
            r"The 'p' parameter of RandomHorizontalFlip must be a float in \[0, 1\]; "
            r"got 2 instead\.",
        ),
        (lambda: RandomHorizontalFlip(p="0.5"), "'p' parameter"),
        (lambda: RandomCrop(padding=-1), "'padding' parameter of RandomCrop"),
        (lambda: RandomCrop(padding=(1, 2, 3)), "'padding' parameter of RandomCrop"),
        (lambda: RandomCrop(size=0), "'size' parameter of RandomCrop"),
        (lambda: RandomCrop(padding_mode="circular"), "'padding_mode' parameter"),
        (lambda: RandomCrop(fill=float("nan")), "'fill' parameter"),
        (lambda: RandomResizedCrop(scale=(0.5, 0.1)), "'scale' parameter of RandomResizedCrop"),
        (lambda: RandomResizedCrop(scale=(0.5, 2.0)), "'scale' parameter"),
        (lambda: RandomResizedCrop(ratio=(0, 1)), "'ratio' parameter"),
        (lambda: RandomAffine(degrees=-5), "'degrees' parameter of RandomAffine"),
        (lambda: RandomAffine(degrees=(10, -10)), "'degrees' parameter"),
        (lambda: RandomAffine(translate=(0.1, 1.5)), "'translate' parameter"),
        (lambda: RandomAffine(translate=0.1), "'translate' parameter"),
        (lambda: RandomAffine(scale=(0.0, 1.0)), "'scale' parameter of RandomAffine"),
        (lambda: RandomRotation(degrees="7"), "'degrees' parameter of RandomRotation"),
    ],
)
def test_constructor_validation(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()


# ---------------------------------------------------------------------------
# presets
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("shape", [(8, 1, 28, 28), (8, 3, 32, 32)])
def test_augmentation_presets_run(preset, shape):
    t = augmentation(preset)
    assert isinstance(t, Compose)
    x = torch.rand(shape)
    out = seeded(t, x)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert augmentation(preset) is not t  # fresh modules


def test_augmentation_preset_contents():
    assert [type(m) for m in augmentation("cifar10")] == [RandomCrop, RandomHorizontalFlip]
    assert [type(m) for m in augmentation("mnist")] == [RandomAffine]
    fashion = augmentation("Fashion-MNIST")
    assert [type(m) for m in fashion] == [RandomHorizontalFlip, RandomCrop]
    assert fashion[1].padding == 2


@pytest.mark.parametrize("dataset", list(MEAN_STD))
def test_normalize_presets(dataset):
    mean, std = MEAN_STD[dataset]
    t = normalize(dataset)
    x = torch.rand(8, len(mean), 28, 28)
    torch.testing.assert_close(t(x), (x - column(mean)) / column(std))
    assert normalize(dataset) is not t


def test_preset_values():
    assert MEAN_STD["mnist"] == ((0.1307,), (0.3081,))
    assert MEAN_STD["fashion_mnist"] == ((0.2860,), (0.3530,))
    assert normalize("FASHION-mnist").mean.flatten().tolist() == pytest.approx([0.2860])


def test_unknown_preset_names_suggest_the_closest():
    with pytest.raises(
        ValueError, match=r"Unknown dataset 'cifar'.*'mnist'.*Did you mean 'cifar10'"
    ):
        normalize("cifar")
    with pytest.raises(ValueError, match=r"Unknown augmentation preset 'mnsit'.*'mnist'\?"):
        augmentation("mnsit")
    with pytest.raises(ValueError, match="valid names are 'cifar10', 'cifar10_resized_crop'"):
        augmentation("svhn")


# ---------------------------------------------------------------------------
# modules: pickling, copying, repr, devices
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("transform", all_transforms(), ids=ids(all_transforms()))
def test_pickle_and_deepcopy_round_trip(transform):
    x = torch.rand(6, 1, 12, 12)
    expected = seeded(transform, x)
    for clone in (pickle.loads(pickle.dumps(transform)), copy.deepcopy(transform)):
        assert type(clone) is type(transform)
        assert repr(clone) == repr(transform)
        assert seeded(clone, x).equal(expected)


def test_public_names_keep_the_module_saved_files_name():
    # Saved estimators (cnn_estimators.persistence) and pickles name a transform by
    # "module:qualname"; files written before transforms became a package name
    # "cnn_estimators.transforms:<Class>", and new files must still load in old versions.
    import cnn_estimators.transforms as module
    from cnn_estimators._allowlist import NAMES, OBJECTS, resolve

    for name in module.__all__:
        obj = getattr(module, name)
        if callable(obj):
            key = f"{obj.__module__}:{obj.__qualname__}"
            assert key == f"cnn_estimators.transforms:{name}"
            if key in NAMES or key in OBJECTS:  # what a saved file may name loads back
                assert resolve(key, "test", frozenset(NAMES) | set(OBJECTS)) is obj
    assert b"cnn_estimators.transforms._" not in pickle.dumps(augmentation("cifar10"))


def test_repr_shows_parameters():
    assert repr(RandomHorizontalFlip(0.25)) == "RandomHorizontalFlip(p=0.25)"
    assert repr(RandomCrop(size=24, padding=(1, 2))) == (
        "RandomCrop(size=(24, 24), padding=(1, 2), fill=0, padding_mode='constant')"
    )
    assert repr(RandomResizedCrop(scale=(0.5, 1.0))) == (
        "RandomResizedCrop(size=None, scale=(0.5, 1), ratio=(0.75, 1.33333))"
    )
    assert repr(RandomAffine(10, translate=(0.1, 0.2), scale=(0.9, 1.1), fill=1)) == (
        "RandomAffine(degrees=(-10, 10), translate=(0.1, 0.2), scale=(0.9, 1.1), fill=1)"
    )
    assert repr(RandomRotation((0, 90))) == "RandomRotation(degrees=(0, 90), fill=0)"
    assert repr(normalize("cifar10")) == (
        "Normalize(mean=(0.4914, 0.4822, 0.4465), std=(0.2023, 0.1994, 0.201))"
    )
    assert repr(Resize(32)) == "Resize(size=(32, 32))"
    assert "RandomCrop(size=None, padding=4" in repr(augmentation("cifar10"))


def test_to_device_and_dtype_moves_buffers():
    t = Compose(normalize("mnist"), RandomCrop(padding=1)).to("cpu").to(torch.float64)
    assert t[0].mean.dtype == torch.float64
    assert t(torch.rand(2, 1, 8, 8)).dtype == torch.float32  # buffers follow the input


# ---------------------------------------------------------------------------
# through the estimator
# ---------------------------------------------------------------------------


def _uint8_images(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 1, 28, 28), dtype=np.uint8), np.arange(n) % 2


def _fit(X, y, random_state=0, train_transform="mnist", **params):
    if train_transform == "mnist":
        train_transform = augmentation("mnist")
    clf = CNNClassifier(
        "mlp",
        module__hidden_sizes=(8,),
        max_epochs=1,
        device="cpu",
        progress_bar=False,
        random_state=random_state,
        train_transform=train_transform,
        eval_transform=normalize("mnist"),
        **params,
    )
    return clf.fit(X, y)


def test_estimator_augmentation_follows_random_state():
    X, y = _uint8_images()
    first = _fit(X, y, random_state=0)
    assert first.predict(X).shape == (40,)
    proba = first.predict_proba(X)
    np.testing.assert_array_equal(_fit(X, y, random_state=0).predict_proba(X), proba)
    assert not np.allclose(_fit(X, y, random_state=1).predict_proba(X), proba)


def test_estimator_applies_train_transform_to_training_batches_only():
    # Training with a certain flip equals training on flipped images; prediction and
    # validation batches are not flipped.
    X, y = _uint8_images()
    flipped = np.ascontiguousarray(X[..., ::-1])
    with_flip = _fit(X, y, train_transform=RandomHorizontalFlip(p=1.0))
    on_flipped = _fit(flipped, y, train_transform=None)
    np.testing.assert_array_equal(
        with_flip.predict_proba(flipped), on_flipped.predict_proba(flipped)
    )


def test_estimator_float64_precision():
    X, y = _uint8_images()
    clf = _fit(X, y, precision="float64")
    assert clf.predict_proba(X).dtype == np.float64
