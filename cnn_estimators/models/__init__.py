"""Model zoo: registered network architectures, built by name with :func:`get_model`.

Importing this package registers the course networks (:mod:`.course`), our own
fast network (:mod:`.fast`) and ResNet-18 transfer learning (:mod:`.resnet`).

Examples
--------
>>> from cnn_estimators.models import get_model, get_model_info, list_models
>>> "fashion_cnn" in list_models()
True
>>> get_model_info("fashion_cnn").min_input_size
(10, 10)
>>> net = get_model("cifar_cnn", in_channels=3, num_classes=10, input_size=(32, 32))
"""

# Importing the submodules registers their models.
from . import course, fast, resnet  # noqa: F401
from ._registry import ModelInfo, get_model, get_model_info, list_models, register_model

__all__ = ["ModelInfo", "get_model", "get_model_info", "list_models", "register_model"]
