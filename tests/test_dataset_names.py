"""One spelling for the data set names: datasets.dataset_name."""

from __future__ import annotations

import pytest

from cnn_estimators.datasets import DATASET_NAMES, dataset_name


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("fashion-mnist", "fashion_mnist"),
        ("fashion_mnist", "fashion_mnist"),
        ("Fashion-MNIST", "fashion_mnist"),
        ("fashion mnist", "fashion_mnist"),
        ("FashionMNIST", "fashion_mnist"),
        ("MNIST", "mnist"),
        ("CIFAR-10", "cifar10"),
        ("cifar_10", "cifar10"),
        ("digits", "digits"),
    ],
)
def test_every_spelling_gives_the_canonical_name(given, canonical):
    assert dataset_name(given) == canonical


def test_the_canonical_names_are_fixed_points():
    assert DATASET_NAMES == ("digits", "mnist", "fashion_mnist", "cifar10")
    assert [dataset_name(name) for name in DATASET_NAMES] == list(DATASET_NAMES)


@pytest.mark.parametrize(
    ("given", "hint"),
    [("fashoin-mnist", "Did you mean 'fashion_mnist'?"), ("cifar100", "Did you mean 'cifar10'?")],
)
def test_unknown_names_are_refused_with_a_suggestion(given, hint):
    with pytest.raises(ValueError, match="The 'dataset' parameter must be one of 'digits'") as info:
        dataset_name(given)
    assert hint in str(info.value) and repr(given) in str(info.value)


@pytest.mark.parametrize("given", ["imagenet", "", None, 10])
def test_other_values_are_refused(given):
    with pytest.raises(ValueError, match=r"got .* instead\."):
        dataset_name(given)


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("CIFAR-10", "cifar10"),
        ("cifar_10", "cifar10"),
        ("Fashion MNIST", "fashion_mnist"),
        ("fashion-mnist", "fashion_mnist"),
        ("ImageNet", "imagenet"),
    ],
)
def test_normalize_and_the_factories_follow_the_same_spelling(given, canonical):
    """transforms.normalize, transforms.augmentation and make_fast_cnn(dataset=) use the
    spelling rule of dataset_name (before, "CIFAR-10" was refused by normalize)."""
    from cnn_estimators import make_fast_cnn
    from cnn_estimators.transforms import MEAN_STD, normalize

    mean, std = MEAN_STD[canonical]
    for transform in (normalize(given), make_fast_cnn(dataset=given).eval_transform):
        assert tuple(transform.mean.flatten().tolist()) == pytest.approx(mean)
        assert tuple(transform.std.flatten().tolist()) == pytest.approx(std)


def test_augmentation_presets_follow_the_same_spelling():
    from cnn_estimators.transforms import augmentation

    assert repr(augmentation("Fashion-MNIST")) == repr(augmentation("fashion_mnist"))
    assert repr(augmentation("CIFAR-10")) == repr(augmentation("cifar10"))
