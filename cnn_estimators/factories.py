"""Factories: configured :class:`CNNClassifier` instances for the course datasets.

Each returns a plain estimator whose every setting is a parameter, so the result can be
cloned, grid-searched and pickled; any keyword overrides the defaults.
"""

from __future__ import annotations

from typing import Any

from ._validation import takes_argument
from .estimator import OPTIMIZERS, CNNClassifier
from .models import get_model_info
from .transforms import MEAN_STD, RandomHorizontalFlip, normalize

__all__ = [
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "FASHION_MNIST_MEAN",
    "FASHION_MNIST_RECIPES",
    "FASHION_MNIST_STD",
    "MNIST_MEAN",
    "MNIST_STD",
    "make_cifar_cnn",
    "make_classifier",
    "make_fashion_mnist_cnn",
    "make_fast_cnn",
    "make_mlp",
    "make_mnist_cnn",
    "make_resnet18_classifier",
]

MNIST_MEAN, MNIST_STD = MEAN_STD["mnist"]
# Measured on the 60,000 Fashion-MNIST training images (pixels scaled to [0, 1]).
FASHION_MNIST_MEAN, FASHION_MNIST_STD = MEAN_STD["fashion_mnist"]
CIFAR10_MEAN, CIFAR10_STD = MEAN_STD["cifar10"]


def _build(defaults: dict[str, Any], params: dict[str, Any]) -> CNNClassifier:
    """``CNNClassifier(**defaults)`` updated with ``params``.

    ``model=`` is an alias of ``module``. The defaults' ``optimizer__*`` arguments that an
    optimizer given in ``params`` does not take (SGD's ``nesterov`` for Adam) are dropped,
    so that ``make_cifar_cnn(optimizer="adam")`` just works; ones given in ``params`` are
    kept and checked at ``fit``. A ``max_epochs`` given in ``params`` sets the length of
    training, so the recipe's ``min_steps`` floor is dropped unless given too.
    """
    if "max_epochs" in params:
        defaults.pop("min_steps", None)
    model = params.pop("model", None)
    if model is not None:
        defaults["module"] = model
    get_model_info(defaults["module"]) if isinstance(defaults["module"], str) else None
    if "optimizer" in params:
        for key in [k for k in defaults if k.startswith("optimizer__") and k not in params]:
            if not _takes_argument(params["optimizer"], key[len("optimizer__") :]):
                del defaults[key]
    defaults.update(params)
    return CNNClassifier(**defaults)


def _takes_argument(optimizer: Any, name: str) -> bool:
    """Whether ``optimizer`` (a name of ``OPTIMIZERS`` or a class) accepts ``name``."""
    if isinstance(optimizer, str):
        optimizer = OPTIMIZERS.get(optimizer.lower())
    if not isinstance(optimizer, type):
        return True  # not ours to judge: fit reports what the optimizer rejects
    return takes_argument(optimizer, name)


#: The ``min_steps`` floors of the one-cycle recipes: fewer optimizer steps than 4 epochs
#: of the full Fashion-MNIST training part (54,000 images with the default validation
#: fraction: 4 x 211 steps of 256, 4 x 422 of 128), so that full-data fits keep their 4
#: epochs, and enough for a 5,000-image subset: with 150 steps of 256 (10 epochs there)
#: make_fashion_mnist_cnn scored 0.858 in 5-fold CV on 5,000 images, MLPClassifier((1000,),
#: max_iter=5) 0.825 (``benchmarks/subset_recipes.py``, ``benchmarks/RESULTS.md``).
#: make_fast_cnn's floor is the same number of images in batches of 128 (not measured).
_FAST_V2_MIN_STEPS = 150
_FAST_MIN_STEPS = 300


def _onecycle_recipe(module: str, **settings: Any) -> dict[str, Any]:
    """Our short-training recipe: SGD with Nesterov momentum 0.9 and weight decay 5e-4,
    a one-cycle schedule, label smoothing 0.1, 4 epochs; ``settings`` add or override
    (``min_steps``: a floor for small data sets)."""
    recipe: dict[str, Any] = dict(
        module=module,
        optimizer="sgd",
        optimizer__momentum=0.9,
        optimizer__nesterov=True,
        optimizer__weight_decay=5e-4,
        lr_schedule="onecycle",
        criterion__label_smoothing=0.1,
        max_epochs=4,
    )
    recipe.update(settings)
    return recipe


def make_classifier(name: str, **params: Any) -> CNNClassifier:
    """A :class:`CNNClassifier` for the registered model ``name``.

    Parameters
    ----------
    name : str
        A name from :func:`~cnn_estimators.list_models`.
    **params
        Any estimator parameter, routed ones included (``module__dropout=0.2``).

    Returns
    -------
    CNNClassifier

    Examples
    --------
    >>> from cnn_estimators import make_classifier
    >>> make_classifier("bn_cnn", lr=1e-3).module
    'bn_cnn'
    """
    get_model_info(name)
    return CNNClassifier(module=name, **params)


def make_mlp(**params: Any) -> CNNClassifier:
    """The course MLP (Flatten → Linear(D, 1000) → ReLU → Linear(1000, K)), Adam, lr 1e-3.

    ``module__hidden_sizes=(H, H, H)`` gives the four-layer CIFAR-10 MLP.

    Examples
    --------
    >>> from cnn_estimators import make_mlp
    >>> make_mlp(max_epochs=3).get_params()["module"]
    'mlp'
    """
    return _build(
        dict(module="mlp", optimizer="adam", lr=1e-3, batch_size=128, max_epochs=10), params
    )


def make_mnist_cnn(**params: Any) -> CNNClassifier:
    """``fashion_cnn`` for MNIST digits: MNIST normalisation, Adam, lr 1e-3, batch 128.

    ``model=`` picks any registered network instead.

    Examples
    --------
    >>> from cnn_estimators import make_mnist_cnn
    >>> make_mnist_cnn(model="example_cnn").module
    'example_cnn'
    """
    return _build(
        dict(
            module="fashion_cnn",
            optimizer="adam",
            lr=1e-3,
            batch_size=128,
            max_epochs=10,
            eval_transform=normalize("mnist"),
        ),
        params,
    )


#: The values of ``make_fashion_mnist_cnn``'s ``recipe`` keyword.
FASHION_MNIST_RECIPES = ("fast", "accurate", "course")

#: The epochs of ``recipe="accurate"``: 24 epochs of ``fast_cnn_v3`` with random flips
#: (network chosen on a 50,000/10,000 validation split, ``benchmarks/RESULTS.md``).
_ACCURATE_EPOCHS = 24


def make_fashion_mnist_cnn(*, recipe: str = "fast", **params: Any) -> CNNClassifier:
    """A Fashion-MNIST classifier: our fast network and recipe, or the course's.

    ``recipe="fast"`` (the default) is :func:`~cnn_estimators.models.fast.fast_cnn_v2`
    trained for 4 epochs with SGD (Nesterov momentum 0.9, weight decay 5e-4), a one-cycle
    schedule peaking at lr 0.6, batch 256, label smoothing 0.1, at least 150 optimizer
    steps on small data sets (``min_steps``) and ``precision="auto"``
    (bfloat16 autocast where the device computes in bfloat16, float32 elsewhere). On the
    full training set it reaches 92.4-92.6% test accuracy in 1.35-1.40x the time of one epoch of
    the course network in a hand-written loop (``benchmarks/time_to_accuracy.py``, results in
    ``benchmarks/RESULTS.md``; measured with bf16 on a 2-core CPU).

    ``recipe="accurate"`` trains :func:`~cnn_estimators.models.fast.fast_cnn_v3`
    (``fast_cnn_v2`` behind one full-resolution convolution) with the same schedule for
    24 epochs with random horizontal flips (``train_transform=RandomHorizontalFlip()``)
    and averages the predictions over each image and its mirror image (``tta="flip"``,
    twice the prediction time). It reached 94.15% and 93.96% test accuracy (two seeds)
    in about 8 times the fit time of ``"fast"``; with ``max_epochs=5``, 93.0% in 1.5-1.8
    times (``benchmarks/accuracy_vs_time.py``; figures in ``benchmarks/RESULTS.md``).
    ``time_budget=`` fits it to a time instead of 24 epochs.

    ``recipe="course"`` is the course network ``fashion_cnn`` with Adam, lr 1e-3,
    batch 128 and 10 epochs (91% test accuracy, about 6.5 times slower).

    All three normalise the images with the Fashion-MNIST mean and standard deviation.

    Parameters
    ----------
    recipe : {"fast", "accurate", "course"}, default="fast"
        Which network and training settings to start from.
    **params
        Any estimator parameter; overrides the recipe's (``model=`` picks another
        registered network, ``max_epochs`` sets the length of the one-cycle schedule).

    Returns
    -------
    CNNClassifier

    Examples
    --------
    >>> from cnn_estimators import make_fashion_mnist_cnn
    >>> est = make_fashion_mnist_cnn()
    >>> est.module, est.optimizer, est.lr_schedule, est.max_epochs
    ('fast_cnn_v2', 'sgd', 'onecycle', 4)
    >>> accurate = make_fashion_mnist_cnn(recipe="accurate")
    >>> accurate.module, accurate.max_epochs, accurate.tta, accurate.train_transform
    ('fast_cnn_v3', 24, 'flip', RandomHorizontalFlip(p=0.5))
    >>> course = make_fashion_mnist_cnn(recipe="course")
    >>> course.module, course.optimizer, course.lr
    ('fashion_cnn', 'adam', 0.001)
    """
    if recipe == "course":
        defaults: dict[str, Any] = dict(
            module="fashion_cnn", optimizer="adam", lr=1e-3, batch_size=128, max_epochs=10
        )
    elif recipe in ("fast", "accurate"):
        defaults = _onecycle_recipe(
            "fast_cnn_v2", lr=0.6, batch_size=256, precision="auto", min_steps=_FAST_V2_MIN_STEPS
        )
        if recipe == "accurate":
            defaults.update(
                module="fast_cnn_v3",
                max_epochs=_ACCURATE_EPOCHS,
                train_transform=RandomHorizontalFlip(),
                tta="flip",
            )
    else:
        raise ValueError(
            "The 'recipe' parameter of make_fashion_mnist_cnn must be one of "
            f"{', '.join(map(repr, FASHION_MNIST_RECIPES))}; got {recipe!r} instead."
        )
    defaults["eval_transform"] = normalize("fashion_mnist")
    return _build(defaults, params)


def make_cifar_cnn(**params: Any) -> CNNClassifier:
    """The CIFAR-10 lab network: SGD with momentum 0.9, lr 0.01, batch 128, CIFAR normalisation.

    Examples
    --------
    >>> from cnn_estimators import make_cifar_cnn
    >>> est = make_cifar_cnn()
    >>> est.optimizer, est.lr, est.optimizer__momentum
    ('sgd', 0.01, 0.9)
    """
    defaults = dict(
        module="cifar_cnn",
        optimizer="sgd",
        lr=0.01,
        batch_size=128,
        max_epochs=20,
        optimizer__momentum=0.9,
        eval_transform=normalize("cifar10"),
    )
    return _build(defaults, params)


def make_fast_cnn(*, dataset: str = "fashion_mnist", **params: Any) -> CNNClassifier:
    """Our ``fast_cnn`` with the recipe it was tuned with (see ``benchmarks/RESULTS.md``).

    SGD with Nesterov momentum 0.9, a one-cycle schedule peaking at lr 0.4, weight decay
    5e-4, label smoothing 0.1, batch 128, 4 epochs (at least 300 optimizer steps:
    ``min_steps``), inputs normalised with ``dataset``'s
    channel statistics. On Fashion-MNIST it reaches 85% test accuracy with 2.3-2.8x less
    CPU time than the best course networks (``benchmarks/model_zoo.py --recipes``).

    Parameters
    ----------
    dataset : {"fashion_mnist", "mnist", "cifar10", "imagenet"}, default="fashion_mnist"
        Whose mean and standard deviation normalise the inputs.
    **params
        Other estimator parameters (``max_epochs`` sets the length of the schedule).

    Examples
    --------
    >>> from cnn_estimators import make_fast_cnn
    >>> est = make_fast_cnn(max_epochs=6)
    >>> est.lr_schedule, est.lr, est.max_epochs
    ('onecycle', 0.4, 6)
    """
    defaults = _onecycle_recipe("fast_cnn", lr=0.4, batch_size=128, min_steps=_FAST_MIN_STEPS)
    defaults["eval_transform"] = normalize(dataset)
    return _build(defaults, params)


def make_resnet18_classifier(
    *,
    weights: str | None = None,
    freeze: str = "all_but_layer4",
    image_size: int = 224,
    **params: Any,
) -> CNNClassifier:
    """ResNet18 transfer learning: Adam, lr 5e-4, batch 32, ImageNet normalisation inside.

    Parameters
    ----------
    weights : None, "DEFAULT", "IMAGENET1K_V1" or path, default=None
        ImageNet weights (downloaded once into torch's hub cache) or a state-dict file.
    freeze : {"all_but_layer4", "all_but_fc", "none"}, default="all_but_layer4"
        Which part of the backbone trains.
    image_size : int, default=224
        Images are resized to ``image_size`` x ``image_size`` inside the model.
    **params
        Other estimator parameters.

    Examples
    --------
    >>> from cnn_estimators import make_resnet18_classifier
    >>> make_resnet18_classifier(image_size=112).module__image_size
    112
    """
    return _build(
        dict(
            module="resnet18",
            optimizer="adam",
            lr=5e-4,
            batch_size=32,
            max_epochs=5,
            module__weights=weights,
            module__freeze=freeze,
            module__image_size=image_size,
        ),
        params,
    )
