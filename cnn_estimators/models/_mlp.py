"""The course's multilayer perceptron: ``mlp`` and the :class:`MLP` it builds."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ._conv import _dropout_layers
from ._registry import _check_common, _check_dropout, _is_int, _param_error, register_model

__all__ = ["MLP", "mlp"]


class MLP(nn.Sequential):
    """Fully connected network: Flatten, then ``Linear -> ReLU [-> Dropout]`` blocks.

    See :func:`mlp` for the parameters.

    Examples
    --------
    >>> import torch
    >>> net = MLP(in_channels=1, num_classes=10, input_size=(28, 28), hidden_sizes=(100,))
    >>> [type(m).__name__ for m in net]
    ['Flatten', 'Linear', 'ReLU', 'Linear']
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        input_size: tuple[int, int],
        hidden_sizes: Sequence[int] = (1000,),
        dropout: float = 0.0,
    ) -> None:
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_channels * input_size[0] * input_size[1]
        for hidden in hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.ReLU(), *_dropout_layers(dropout)]
            width = hidden
        layers.append(nn.Linear(width, num_classes))
        super().__init__(*layers)


@register_model(
    "mlp",
    min_input_size=(1, 1),
    variable_input_size=False,
    default_input_size=(28, 28),
    default_in_channels=1,
    description="Multilayer perceptron on the flattened image (no convolutions).",
)
def mlp(
    *,
    in_channels: int = 1,
    num_classes: int = 10,
    input_size: tuple[int, int] = (28, 28),
    hidden_sizes: Sequence[int] = (1000,),
    dropout: float = 0.0,
) -> MLP:
    """Multilayer perceptron on the flattened image.

    ``Flatten -> Linear(D, h1) -> ReLU -> ... -> Linear(h_last, K)`` with
    ``D = in_channels * H * W``. ``hidden_sizes=()`` gives a linear (softmax
    regression) model and ``hidden_sizes=(h, h, h)`` the four-layer CIFAR-10 MLP.

    Parameters
    ----------
    in_channels : int, default=1
        Number of image channels.
    num_classes : int, default=10
        Number of output logits.
    input_size : tuple of int, default=(28, 28)
        ``(height, width)`` of the images; the first layer has
        ``in_channels * height * width`` inputs.
    hidden_sizes : sequence of int, default=(1000,)
        Widths of the hidden layers.
    dropout : float, default=0.0
        Dropout probability after each hidden ReLU (no Dropout layer when 0).

    Returns
    -------
    model : MLP
        The network (an ``nn.Sequential``).

    Examples
    --------
    >>> import torch
    >>> net = mlp(in_channels=1, num_classes=10, input_size=(28, 28), hidden_sizes=(256, 256))
    >>> net(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """
    in_channels, num_classes, input_size = _check_common(
        "mlp", in_channels, num_classes, input_size
    )
    if (
        isinstance(hidden_sizes, str)
        or not isinstance(hidden_sizes, Sequence)
        or not all(_is_int(h) and h >= 1 for h in hidden_sizes)
    ):
        raise _param_error("hidden_sizes", "mlp", "a tuple or list of positive ints", hidden_sizes)
    dropout = _check_dropout(dropout, "mlp")
    return MLP(
        in_channels,
        num_classes,
        input_size,
        hidden_sizes=tuple(int(h) for h in hidden_sizes),
        dropout=dropout,
    )
