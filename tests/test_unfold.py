"""Tests of the unfold (im2col + matmul) convolution and of ``conv_impl="unfold"``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cnn_estimators import CNNClassifier
from cnn_estimators.models import get_model
from cnn_estimators.unfold import UnfoldConv2d, UnfoldConv2dFunction, unfold_conv2d

#: Course networks whose convolutions are all plain 2-D convolutions.
CONV_MODELS = ["fashion_cnn", "cifar_cnn", "example_cnn", "global_pool_cnn", "bn_cnn"]

#: (in_channels, out_channels, kernel_size, stride, padding, bias, (H, W)), batch 2.
CASES = [
    (1, 3, 1, 1, 0, True, (5, 4)),
    (1, 3, 3, 1, 1, True, (6, 5)),
    (3, 4, 3, 2, 1, False, (7, 6)),
    (3, 4, 5, 2, 2, True, (9, 8)),
    (3, 4, 5, 1, 0, False, (5, 7)),  # kernel as high as the image
    (3, 4, 3, 2, 0, True, (8, 8)),  # the stride leaves the last row and column unread
    (1, 3, (2, 3), 1, 0, True, (5, 6)),  # non-square kernel
    (3, 4, (3, 5), (2, 1), (1, 2), True, (8, 7)),  # non-square everything
    (3, 4, (1, 3), (1, 2), (0, 1), False, (4, 9)),
]
IDS = [f"{c[0]}to{c[1]}-k{c[2]}-s{c[3]}-p{c[4]}-bias{int(c[5])}-{c[6][0]}x{c[6][1]}" for c in CASES]

#: Absolute and relative tolerances per dtype for comparisons with nn.Conv2d.
TOLERANCES = {torch.float32: 1e-5, torch.float64: 1e-10}


@pytest.fixture(autouse=True)
def _seeded_rng():
    """Seed torch inside a forked RNG so the global RNG state does not leak between tests."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        yield


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread: the tensors here are tiny, and on a busy 2-core machine OpenMP
    threads waiting for each other make gradcheck's thousands of small calls 10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _pair(value):
    return (value, value) if isinstance(value, int) else value


def _module_pair(case, dtype=torch.float32):
    """An ``nn.Conv2d`` and an ``UnfoldConv2d`` with the same weights, and an input."""
    c_in, c_out, kernel, stride, padding, bias, size = case
    conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=bias)
    conv = conv.to(dtype)
    unfold = UnfoldConv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=bias)
    unfold = unfold.to(dtype)
    unfold.load_state_dict(conv.state_dict())
    x = torch.randn(2, c_in, *size, dtype=dtype)
    return conv, unfold, x


def _assert_same_function(conv, unfold, x, dtype):
    """Same outputs and same input, weight and bias gradients (within ``TOLERANCES``)."""
    tol = TOLERANCES[dtype]
    x_conv = x.clone().requires_grad_()
    x_unfold = x.clone().requires_grad_()
    out_conv, out_unfold = conv(x_conv), unfold(x_unfold)
    assert out_unfold.shape == out_conv.shape and out_unfold.dtype == out_conv.dtype
    torch.testing.assert_close(out_unfold, out_conv, atol=tol, rtol=tol)
    grad = torch.randn_like(out_conv)
    out_conv.backward(grad)
    out_unfold.backward(grad)
    torch.testing.assert_close(x_unfold.grad, x_conv.grad, atol=tol, rtol=tol)
    torch.testing.assert_close(unfold.weight.grad, conv.weight.grad, atol=tol, rtol=tol)
    if conv.bias is None:
        assert unfold.bias is None
    else:
        torch.testing.assert_close(unfold.bias.grad, conv.bias.grad, atol=tol, rtol=tol)


# ---------------------------------------------------------------------------
# The autograd function
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradcheck(case):
    c_in, c_out, kernel, stride, padding, bias, size = case
    kernel, stride, padding = _pair(kernel), _pair(stride), _pair(padding)
    options = {"dtype": torch.float64, "requires_grad": True}
    x = torch.randn(2, c_in, *size, **options)
    weight = torch.randn(c_out, c_in, *kernel, **options)
    b = torch.randn(c_out, **options) if bias else None

    def conv(x, weight, b):
        return UnfoldConv2dFunction.apply(x, weight, b, stride, padding)

    assert torch.autograd.gradcheck(conv, (x, weight, b))
    # Gradients with respect to a subset of the inputs only.
    assert torch.autograd.gradcheck(lambda w: conv(x.detach(), w, None), (weight,))
    assert torch.autograd.gradcheck(lambda x: conv(x, weight.detach(), None), (x,))


def test_gradients_only_for_inputs_that_need_them():
    x = torch.randn(2, 3, 6, 6)
    weight = torch.randn(4, 3, 3, 3, requires_grad=True)
    bias = torch.randn(4)
    out = UnfoldConv2dFunction.apply(x, weight, bias, (1, 1), (1, 1))
    (grad_x, grad_w, grad_b, *rest) = UnfoldConv2dFunction.backward(
        out.grad_fn, torch.ones_like(out)
    )
    assert grad_x is None and grad_b is None and rest == [None, None]
    assert grad_w.shape == weight.shape
    # Only the weight needs a gradient, so the weight is not saved; the columns are.
    cols, saved_weight = out.grad_fn.saved_tensors
    assert saved_weight is None and cols.shape == (2, 27, 36)

    x.requires_grad_()
    weight.requires_grad_(False)
    out = UnfoldConv2dFunction.apply(x, weight, None, (1, 1), (1, 1))
    cols, saved_weight = out.grad_fn.saved_tensors
    assert cols is None and saved_weight is not None
    out.sum().backward()
    x_ref = x.detach().clone().requires_grad_()
    nn.functional.conv2d(x_ref, weight, padding=1).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad)


def test_no_double_backward():
    x = torch.randn(1, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    loss = unfold_conv2d(x, w).pow(2).sum()  # its output gradient depends on x and w
    (grad_x,) = torch.autograd.grad(loss, x, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        grad_x.sum().backward()


# ---------------------------------------------------------------------------
# Equivalence with nn.Conv2d
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_matches_conv2d(case, dtype):
    conv, unfold, x = _module_pair(case, dtype)
    _assert_same_function(conv, unfold, x, dtype)


@pytest.mark.parametrize(
    "case",
    [
        (64, 128, 3, 1, 0, True, (13, 13)),  # fashion_cnn's second convolution
        (3, 32, 5, 1, 2, True, (32, 32)),  # example_cnn's first
        (16, 8, 7, 2, 3, False, (15, 20)),  # ResNet stem-like
    ],
    ids=["fashion", "example", "stem"],
)
def test_matches_conv2d_on_larger_layers(case):
    conv, unfold, x = _module_pair(case, torch.float64)
    _assert_same_function(conv, unfold, x, torch.float64)


def test_from_conv_and_state_dict_round_trips():
    conv = nn.Conv2d(3, 5, (3, 2), stride=(1, 2), padding=(2, 1)).double()
    twin = UnfoldConv2d.from_conv(conv)
    assert isinstance(twin, UnfoldConv2d)
    assert twin.weight.dtype == torch.float64 and twin.weight is not conv.weight
    assert twin.weight.data_ptr() != conv.weight.data_ptr()
    assert (twin.kernel_size, twin.stride, twin.padding) == ((3, 2), (1, 2), (2, 1))
    x = torch.randn(2, 3, 7, 8, dtype=torch.float64)
    _assert_same_function(conv, twin, x, torch.float64)

    # UnfoldConv2d -> nn.Conv2d and back, through state dicts with the same keys.
    source = UnfoldConv2d(4, 6, 3, stride=2, padding=1, bias=False)
    assert list(source.state_dict()) == ["weight"]
    target = nn.Conv2d(4, 6, 3, stride=2, padding=1, bias=False)
    target.load_state_dict(source.state_dict())
    back = UnfoldConv2d(4, 6, 3, stride=2, padding=1, bias=False)
    back.load_state_dict(target.state_dict())
    assert torch.equal(back.weight, source.weight)
    _assert_same_function(target, back, torch.randn(2, 4, 9, 10), torch.float32)
    with_bias = UnfoldConv2d(4, 6, 3)
    assert list(with_bias.state_dict()) == list(nn.Conv2d(4, 6, 3).state_dict())


def test_from_conv_keeps_flags_and_random_state():
    conv = nn.Conv2d(2, 3, 3).eval()
    conv.weight.requires_grad_(False)
    state = torch.random.get_rng_state()
    twin = UnfoldConv2d.from_conv(conv)
    assert torch.equal(torch.random.get_rng_state(), state)  # no random initialisation
    assert not twin.training
    assert not twin.weight.requires_grad and twin.bias.requires_grad
    assert torch.equal(twin.bias, conv.bias)


def test_same_initialisation_as_conv2d():
    for kwargs in ({"bias": True}, {"bias": False}, {"stride": 2, "padding": (1, 0)}):
        torch.manual_seed(3)
        conv = nn.Conv2d(5, 7, (3, 4), **kwargs)
        torch.manual_seed(3)
        unfold = UnfoldConv2d(5, 7, (3, 4), **kwargs)
        for (name_a, a), (name_b, b) in zip(
            conv.named_parameters(), unfold.named_parameters(), strict=True
        ):
            assert name_a == name_b and a.shape == b.shape and torch.equal(a, b)
        torch.manual_seed(4)
        conv.reset_parameters()
        torch.manual_seed(4)
        unfold.reset_parameters()
        assert torch.equal(conv.weight, unfold.weight)


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_string_padding(padding):
    conv = nn.Conv2d(2, 3, (3, 5), padding=padding)
    unfold = UnfoldConv2d.from_conv(conv)
    assert unfold.padding == padding
    _assert_same_function(conv, unfold, torch.randn(2, 2, 6, 7), torch.float32)


def test_unbatched_and_empty_inputs():
    conv = nn.Conv2d(2, 3, 3, padding=1)
    unfold = UnfoldConv2d.from_conv(conv)
    x = torch.randn(2, 5, 4)
    torch.testing.assert_close(unfold(x), conv(x), atol=1e-5, rtol=1e-5)
    empty = torch.randn(0, 2, 5, 4)
    assert unfold(empty).shape == conv(empty).shape == (0, 3, 5, 4)


def test_bfloat16_autocast():
    conv = nn.Conv2d(3, 4, 3, padding=1)
    unfold = UnfoldConv2d.from_conv(conv)
    x = torch.randn(2, 3, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected, out = conv(x), unfold(x)
    assert out.dtype == expected.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), expected.float(), atol=0.05, rtol=0.05)
    out.float().sum().backward()
    assert unfold.weight.grad.dtype == unfold.bias.grad.dtype == torch.float32


# ---------------------------------------------------------------------------
# Errors and repr
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dilation": 2}, "supports only dilation=1"),
        ({"dilation": (1, 2)}, "supports only dilation=1"),
        ({"groups": 2}, "supports only groups=1"),
        ({"padding_mode": "reflect"}, "supports only padding_mode='zeros'"),
        ({"padding": "same", "stride": 2}, "padding='same' is not supported for strided"),
        ({"padding": "same", "kernel_size": (3, 4)}, "only for odd kernel sizes"),
        ({"padding": "full"}, "'valid' or 'same'; got 'full'"),
        ({"padding": -1}, "The 'padding' parameter of UnfoldConv2d must be an int >= 0"),
        ({"kernel_size": 0}, "The 'kernel_size' parameter of UnfoldConv2d must be an int >= 1"),
        ({"kernel_size": (3, 3, 3)}, "The 'kernel_size' parameter"),
        ({"stride": (1, 0)}, "The 'stride' parameter of UnfoldConv2d must be an int >= 1"),
        ({"stride": 1.5}, "The 'stride' parameter"),
        ({"in_channels": 0}, "The 'in_channels' parameter of UnfoldConv2d must be an int >= 1"),
        ({"out_channels": True}, "The 'out_channels' parameter"),
    ],
)
def test_invalid_arguments(kwargs, match):
    arguments = {"in_channels": 4, "out_channels": 4, "kernel_size": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        UnfoldConv2d(**arguments)


def test_from_conv_errors():
    with pytest.raises(TypeError, match=r"expects a torch\.nn\.Conv2d; got Linear"):
        UnfoldConv2d.from_conv(nn.Linear(3, 3))
    with pytest.raises(ValueError, match="supports only groups=1"):
        UnfoldConv2d.from_conv(nn.Conv2d(4, 4, 3, groups=4))
    with pytest.raises(ValueError, match="supports only padding_mode='zeros'"):
        UnfoldConv2d.from_conv(nn.Conv2d(4, 4, 3, padding=1, padding_mode="circular"))


@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (2, 2, 2, 8), (8, 8), (1, 2, 3, 8, 8)], ids=str)
def test_bad_inputs_raise_the_messages_of_conv2d(shape):
    conv = nn.Conv2d(2, 4, 3)
    unfold = UnfoldConv2d.from_conv(conv)
    x = torch.randn(*shape)
    with pytest.raises(RuntimeError) as expected:
        conv(x)
    with pytest.raises(RuntimeError) as raised:
        unfold(x)
    assert str(raised.value) == str(expected.value)


def test_functional_argument_errors():
    x, w = torch.randn(1, 2, 5, 5), torch.randn(3, 2, 3, 3)
    with pytest.raises(ValueError, match="must be a 4-D tensor"):
        unfold_conv2d(x, w[0])
    with pytest.raises(ValueError, match=r"must have shape \(3,\)"):
        unfold_conv2d(x, w, torch.zeros(2))
    with pytest.raises(ValueError, match="The 'stride' parameter of unfold_conv2d"):
        unfold_conv2d(x, w, stride=0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"stride": 2},
        {"padding": 1, "bias": False},
        {"kernel_size": (3, 5), "stride": (2, 1), "padding": (1, 2)},
        {"padding": "same"},
        {"padding": "valid"},
    ],
    ids=str,
)
def test_repr_matches_conv2d(kwargs):
    arguments = {"in_channels": 3, "out_channels": 8, "kernel_size": 3, **kwargs}
    expected = repr(nn.Conv2d(**arguments)).replace("Conv2d(", "UnfoldConv2d(", 1)
    module = UnfoldConv2d(**arguments)
    assert repr(module) == expected
    assert module.dilation == (1, 1) and module.groups == 1 and module.padding_mode == "zeros"


# ---------------------------------------------------------------------------
# conv_impl in the model registry
# ---------------------------------------------------------------------------


def _course_model(name, conv_impl, seed=0, in_channels=3, size=(32, 32)):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return get_model(
            name,
            in_channels=in_channels,
            num_classes=10,
            input_size=size,
            conv_impl=conv_impl,
        )


def _count(model, cls):
    return sum(isinstance(m, cls) for m in model.modules())


@pytest.mark.parametrize("name", CONV_MODELS)
def test_registry_conv_impl_unfold(name):
    reference = _course_model(name, "torch").eval()
    model = _course_model(name, "unfold").eval()
    assert _count(model, nn.Conv2d) == 0
    assert _count(model, UnfoldConv2d) == _count(reference, nn.Conv2d) > 0
    assert sum(p.numel() for p in model.parameters()) == sum(
        p.numel() for p in reference.parameters()
    )
    assert list(model.state_dict()) == list(reference.state_dict())
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), atol=1e-5, rtol=1e-5)
    # The state dict moves from one implementation to the other.
    other = _course_model(name, "unfold", seed=1).eval()
    other.load_state_dict(reference.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(other(x), reference(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", CONV_MODELS)
def test_registry_conv_impl_shape_arithmetic(name):
    from cnn_estimators.models import get_model_info

    info = get_model_info(name)
    for size in (info.min_input_size, (28, 20)):
        reference = _course_model(name, "torch", in_channels=2, size=size).eval()
        model = _course_model(name, "unfold", in_channels=2, size=size).eval()
        x = torch.rand(2, 2, *size)
        assert model(x).shape == reference(x).shape == (2, 10)


def test_registry_conv_impl_default_and_errors():
    model = get_model("fashion_cnn", in_channels=1, num_classes=10, input_size=(28, 28))
    assert _count(model, UnfoldConv2d) == 0 and _count(model, nn.Conv2d) == 2
    for name in CONV_MODELS:
        with pytest.raises(ValueError, match=f"'conv_impl' parameter of {name}") as excinfo:
            get_model(name, in_channels=3, num_classes=10, input_size=(32, 32), conv_impl="im2col")
        assert "'torch', 'unfold'" in str(excinfo.value)


def test_full_network_gradients_match():
    reference = _course_model("fashion_cnn", "torch", in_channels=1, size=(16, 16)).double()
    model = _course_model("fashion_cnn", "unfold", in_channels=1, size=(16, 16)).double()
    x = torch.rand(3, 1, 16, 16, dtype=torch.float64)
    y = torch.tensor([0, 4, 9])
    loss_fn = nn.CrossEntropyLoss()
    loss_fn(reference(x), y).backward()
    loss_fn(model(x), y).backward()
    for (name, p), q in zip(reference.named_parameters(), model.parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, atol=1e-10, rtol=1e-10, msg=name)


# ---------------------------------------------------------------------------
# Through the estimator
# ---------------------------------------------------------------------------


def _random_images(n=40, shape=(1, 12, 12), seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, *shape), dtype=np.float32), np.arange(n) % 3


def _classifier(conv_impl, **kwargs):
    return CNNClassifier(
        "fashion_cnn",
        module__conv_impl=conv_impl,
        max_epochs=2,
        batch_size=16,
        random_state=0,
        device="cpu",
        progress_bar=False,
        **kwargs,
    )


def test_estimator_fits_with_unfold_convolutions():
    X, y = _random_images()
    clf = _classifier("unfold").fit(X, y)
    assert _count(clf.module_, UnfoldConv2d) == 2 and _count(clf.module_, nn.Conv2d) == 0
    assert clf.predict(X).shape == (40,)
    assert set(clf.predict(X)) <= {0, 1, 2}
    assert len(clf.loss_curve_) == 2 and all(np.isfinite(clf.loss_curve_))


def test_estimator_loss_curve_matches_torch_convolutions():
    X, y = _random_images()
    unfold = _classifier("unfold", precision="float64").fit(X, y)
    reference = _classifier("torch", precision="float64").fit(X, y)
    assert isinstance(unfold.module_.features[0], UnfoldConv2d)
    assert unfold.module_.features[0].weight.dtype == torch.float64
    np.testing.assert_allclose(unfold.loss_curve_, reference.loss_curve_, rtol=0, atol=1e-8)
    np.testing.assert_allclose(
        unfold.predict_proba(X), reference.predict_proba(X), rtol=0, atol=1e-8
    )
