"""The training state of a resumable run: its name, writing and restoring it.

Part of :class:`~cnn_estimators.CNNClassifier`, which inherits :class:`TrainingStateMixin`.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from skorch.history import History

from ._io import load_checkpoint
from ._plan import recorded_plan
from ._runtime import (
    python_rng_state,
    python_rng_tuple,
)
from ._schema import check_training_state
from .callbacks import (
    STATE_FILE,
    ResumableEarlyStopping,
)


def _versions() -> dict[str, str]:
    """Versions that a saved training state records (and checks when loaded)."""
    import skorch

    from . import __version__

    return {
        "torch": str(torch.__version__),
        "skorch": str(skorch.__version__),
        "cnn_estimators": __version__,
    }


def _stable_repr(value: Any) -> str:
    """A repr that is the same in every process (no memory addresses)."""
    if isinstance(value, type) or (callable(value) and hasattr(value, "__qualname__")):
        return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', value)}"
    return re.sub(r" at 0x[0-9a-f]+", "", repr(value))


class TrainingStateMixin:
    """The training state of a resumable run: its name, writing and restoring it."""

    _NOT_FINGERPRINTED = frozenset(
        {"resume", "verbose", "progress_bar", "checkpoint_dir", "device", "warm_start"}
    )

    def _fingerprint(self, kind: str, images: Any, y_enc: Any, weights: Any, seed: int) -> str:
        """A digest of the parameters and the data naming a resumable run directory."""
        digest = hashlib.sha256()
        for key, value in sorted(self.get_params(deep=False).items()):
            if key not in self._NOT_FINGERPRINTED:
                digest.update(f"{key}={_stable_repr(value)};".encode())
        digest.update(f"seed={seed};kind={kind};".encode())
        if kind == "tensor":
            digest.update(memoryview(np.ascontiguousarray(images.numpy())).cast("B"))
        elif kind == "ragged":
            for image in images:
                digest.update(memoryview(np.ascontiguousarray(image.numpy())).cast("B"))
        else:
            digest.update(f"{type(images.dataset).__name__}{images.indices.tobytes()}".encode())
        digest.update(np.ascontiguousarray(y_enc).tobytes())
        if weights is not None:
            digest.update(np.ascontiguousarray(weights).tobytes())
        return digest.hexdigest()[:16]

    def training_state(self, *, complete: bool = False) -> dict[str, Any]:
        """Everything needed to continue training exactly where it stands.

        Weights, optimizer and LR-scheduler states, the history, and the states of the
        random generators (torch, numpy, ``random`` and the data order); only tensors,
        numbers, strings and lists, so it loads with ``torch.load(weights_only=True)``.
        """
        scheduler = dict(self.callbacks_).get("lr_scheduler")
        np_state = np.random.get_state()  # noqa: NPY002 -- the generator of this fit
        run = self.current_fit()
        generator = run.generator if run is not None else None
        return {
            "format": 1,
            "versions": _versions(),
            "complete": complete,
            "epochs_done": sum(1 for row in self.history_ if "dur" in row),
            "module": self.module_.state_dict(),
            "optimizer": self.optimizer_.state_dict(),
            "scheduler": (
                scheduler.lr_scheduler_.state_dict()
                if scheduler is not None and scheduler.lr_scheduler_ is not None
                else None
            ),
            "grad_scaler": (
                self.grad_scaler_.state_dict()
                if self.__dict__.get("grad_scaler_") is not None
                else None
            ),
            "history": json.dumps(list(self.history_), default=float),
            "rng_torch": torch.get_rng_state(),
            "rng_numpy": [
                torch.from_numpy(np_state[1].astype(np.int64)),
                int(np_state[2]),
                int(np_state[3]),
                float(np_state[4]),
            ],
            "rng_python": python_rng_state(),
            "rng_data": generator.get_state() if generator is not None else None,
        }

    def _restore_training_state(self) -> int | None:
        """Load a resumable run's state; the number of epochs left, or None for a new run."""
        run_name = self.__dict__.get("run_name_")
        if not run_name:
            return None
        path = Path(self.checkpoint_dir) / run_name / STATE_FILE
        if not path.exists():
            return None
        state = load_checkpoint(path, map_location=torch.device(self.device or "cpu"))
        check_training_state(state, path)  # fields and types, before any is used
        found = state.get("versions", {})
        if found != _versions():
            warnings.warn(
                f"The training state {path} was written with {found}; running with "
                f"{_versions()}. Continuing, but results may differ from an uninterrupted "
                "run.",
                UserWarning,
                stacklevel=4,
            )
        try:
            self.module_.load_state_dict(state["module"])
        except RuntimeError as exc:
            raise ValueError(
                f"{path} holds weights for another architecture than "
                f"{self._module_name()}: {str(exc).splitlines()[0]}. Delete it to start over."
            ) from exc
        self.optimizer_.load_state_dict(state["optimizer"])
        scaler = self._grad_scaler()
        if scaler is not None and state.get("grad_scaler") is not None:
            scaler.load_state_dict(state["grad_scaler"])
        self.history_ = History(json.loads(state["history"]))
        torch.set_rng_state(state["rng_torch"])
        keys, pos, has_gauss, cached = state["rng_numpy"]
        np.random.set_state(  # noqa: NPY002 -- restored after the fit by _seeded
            ("MT19937", keys.numpy().astype(np.uint32), pos, has_gauss, cached)
        )
        random.setstate(python_rng_tuple(state["rng_python"]))
        run = self._fit_run
        if state["rng_data"] is not None:
            run.generator.set_state(state["rng_data"])
        run.resume_state = state
        if state["complete"]:
            return 0
        early = dict(self.callbacks_).get("early_stopping")
        if isinstance(early, ResumableEarlyStopping):
            early.replay(self.history_)
            if early.has_stopped():  # killed after the last epoch, before the end of fit
                return 0
        return max(0, recorded_plan(self.history_, self.max_epochs)[0] - int(state["epochs_done"]))
