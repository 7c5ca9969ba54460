"""``CNNClassifier.load`` on files written by a stranger (crafted with valid checksums).

Every crafted file must raise ``CheckpointError`` naming the file, and never create the
marker file its payload asks for. The files are written with ``save_checkpoint``, so their
SHA-256 is valid: the checksum is no defence against a malicious author.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import tempfile
import time
import zipfile

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits

from cnn_estimators import CNNClassifier, persistence
from cnn_estimators._io import MAGIC, CheckpointError, load_checkpoint, save_checkpoint

X, Y = load_digits(return_X_y=True)
X = X[:200] / 16
Y = Y[:200]
MARKER_DIR = tempfile.mkdtemp(prefix="cnn-estimators-marker-")
MARKER = os.path.join(MARKER_DIR, "pwned")
COMMAND = f"touch {MARKER}"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A small fitted estimator's saved content, and its predictions."""
    est = CNNClassifier(
        "mlp", module__hidden_sizes=(16,), max_epochs=1, random_state=0, device="cpu"
    ).fit(X, Y)
    path = est.save(tmp_path_factory.mktemp("saved") / "model.ckpt")
    return load_checkpoint(path), est.predict_proba(X)


@pytest.fixture(autouse=True)
def no_marker():
    yield
    created = os.path.exists(MARKER)
    if created:
        os.remove(MARKER)
    assert not created, "a crafted file ran a command"


def craft(state, tmp_path, name="crafted.ckpt"):
    path = tmp_path / name
    save_checkpoint(state, path)
    return path


def write_raw(payload: bytes, path) -> None:
    """A file with a valid header and checksum around any payload bytes."""
    path.write_bytes(MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)


def call(name, *args, **kwargs):
    return {"__object__": name, "args": list(args), "kwargs": kwargs}


CODE = [
    ("criterion", call("torch:os.system", COMMAND)),
    ("criterion", {"__ref__": "torch:os.system"}),
    ("criterion", call("cnn_estimators:os.system", COMMAND)),
    ("criterion", call("numpy:os.system", COMMAND)),
    ("criterion", call("sklearn.utils:os.system", COMMAND)),
    ("criterion", call("skorch:os.system", COMMAND)),
    ("criterion", call("os:system", COMMAND)),
    ("criterion", call("posix:system", COMMAND)),
    ("criterion", call("builtins:eval", f"__import__('os').system({COMMAND!r})")),
    ("criterion", call("builtins:exec", f"import os; os.system({COMMAND!r})")),
    ("criterion", call("subprocess:run", ["touch", MARKER])),
    ("criterion", call("torch:save", {"__tensor__": torch.zeros(1)}, MARKER)),
    ("criterion", call("torch:load", MARKER, weights_only=False)),
    ("criterion", call("numpy:save", MARKER, [1])),
    ("criterion", {"__ref__": "torch:nn.__class__"}),
    ("criterion", {"__ref__": "torch.nn.modules.loss:CrossEntropyLoss.__init__"}),
    ("criterion", {"__ref__": "torch.nn.modules.loss:CrossEntropyLoss.__class__.__subclasses__"}),
    ("criterion", {"__ref__": "torch.optim.sgd:SGD.__init__.__globals__"}),
    ("criterion", {"__ref__": "torch.optim.sgd:torch.save"}),
    ("criterion", {"__ref__": "torch.optim.sgd"}),
    ("criterion", {"__ref__": ["torch", "save"]}),
    # allowed to be named, not to be called at load
    ("criterion", call("torch.utils.data.dataloader:DataLoader", [1, 2])),
    ("criterion", call("skorch.utils:to_numpy", [1])),
    # objects that may be built, with something else inside
    ("eval_transform", call("cnn_estimators.transforms:Compose", call("os:system", COMMAND))),
    (
        "eval_transform",
        call("torchvision.transforms.v2._container:Compose", transforms=[{"__ref__": "os:system"}]),
    ),
    ("eval_transform", call("cnn_estimators.transforms:Resize", size=call("os:system", COMMAND))),
    ("eval_transform", call("cnn_estimators.transforms:Resize", size=8, evil=COMMAND)),
    ("eval_transform", call("cnn_estimators.transforms:Resize", COMMAND)),
    ("train_split", call("cnn_estimators.adapters:PredefinedSplit", X=call("os:system", COMMAND))),
    ("train_split", call("cnn_estimators.adapters:PredefinedSplit", X={"__ref__": "os:system"})),
    (
        "callbacks",
        [
            {
                "__tuple__": [
                    "score",
                    call(
                        "skorch.callbacks.scoring:EpochScoring",
                        scoring="accuracy",
                        target_extractor={"__ref__": "builtins:eval"},
                    ),
                ]
            }
        ],
    ),
    ("callbacks", [{"__tuple__": ["x", call("skorch.callbacks.lr_scheduler:LRScheduler")]}]),
    ("iterator_train", {"__ref__": "torch.utils.data.dataloader:DataLoader.__init__"}),
]


@pytest.mark.parametrize(("param", "value"), CODE, ids=[repr(v)[:60] for _, v in CODE])
def test_no_code_outside_the_exact_list(saved, tmp_path, param, value):
    state = copy.deepcopy(saved[0])
    state["params"][param] = value
    path = craft(state, tmp_path)
    with pytest.raises(CheckpointError, match=rf"crafted\.ckpt.*parameter '{param}'"):
        CNNClassifier.load(path)


@pytest.mark.parametrize(
    "kind",
    [
        "torch:Tensor",
        "torch:os.system",
        "builtins:eval",
        "cnn_estimators.estimator:CNNClassifier.__init__",
        "cnn_estimators:CNNClassifier",  # exact names only, not where else it can be found
        "cnn_estimators.persistence:os.system",
        None,
        ["cnn_estimators.estimator", "CNNClassifier"],
    ],
)
def test_kind_must_be_an_estimator_class(saved, tmp_path, kind):
    state = copy.deepcopy(saved[0])
    state["kind"] = kind
    with pytest.raises(CheckpointError, match=r"crafted\.ckpt.*'kind'"):
        CNNClassifier.load(craft(state, tmp_path))


def _set(path_in_state, value):
    def mutate(state):
        target = state
        for key in path_in_state[:-1]:
            target = target[key]
        target[path_in_state[-1]] = value
        return state

    return mutate


def _drop(key):
    def mutate(state):
        del state[key]
        return state

    return mutate


def _deep(depth):
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


MALFORMED = {
    "a list": lambda s: [s],
    "missing classes": _drop("classes"),
    "missing history": _drop("history"),
    "missing module": _drop("module"),
    "extra field": _set(["extra"], 1),
    "format 2": _set(["format"], 2),
    "versions a list": _set(["versions"], ["torch"]),
    "params a list": _set(["params"], [1, 2]),
    "history not JSON": _set(["history"], "{not json"),
    "history a dict": _set(["history"], json.dumps({"a": 1})),
    "history rows not dicts": _set(["history"], json.dumps([1, 2])),
    "history loss a string": _set(["history"], json.dumps([{"train_loss": "x"}])),
    "history deeply nested": _set(["history"], "[" * 100_000 + "]" * 100_000),
    "history huge int": _set(["history"], "[" + "9" * 100_000 + "]"),
    "history bytes": _set(["history"], b"[]"),
    "classes 2-D": _set(["classes"], {"__ndarray__": torch.zeros(2, 2)}),
    "classes empty": _set(["classes"], {"__ndarray__": torch.zeros(0)}),
    "classes a tensor": _set(["classes"], torch.arange(10)),
    "classes bf16": _set(["classes"], {"__ndarray__": torch.zeros(10, dtype=torch.bfloat16)}),
    "classes ragged": _set(["classes"], {"__list_array__": [["a"], ["b", "c"]]}),
    "fitted unknown": _set(["fitted", "predict_proba"], 1),
    "fitted dunder": _set(["fitted", "__class__"], {"__ref__": "torch.optim.sgd:SGD"}),
    "fitted shape": _set(["fitted", "image_shape_"], [1, 8, 8]),
    "fitted n_iter": _set(["fitted", "n_iter_"], -1),
    "net_shape strings": _set(["net_shape"], ["1", "8", "8"]),
    "net_shape 2": _set(["net_shape"], [8, 8]),
    "feature_names int": _set(["feature_names"], 3),
    "module a list": _set(["module"], [torch.zeros(1)]),
    "module value str": _set(["module", "0.weight"], "w"),
    "module missing key": lambda s: {**s, "module": dict(list(s["module"].items())[1:])},
    "module wrong shape": lambda s: {**s, "module": {k: v[:1] for k, v in s["module"].items()}},
    "optimizer list": _set(["optimizer"], [1]),
    "optimizer groups": _set(["optimizer", "param_groups"], [{"lr": 1.0}]),
    "optimizer params ids": _set(["optimizer", "param_groups", 0, "params"], [99, 100]),
    "optimizer state": _set(["optimizer", "state"], {0: {"step": call("os:system", COMMAND)}}),
    "param key dunder": _set(["params", "__class__"], {"__ref__": "torch.optim.sgd:SGD"}),
    "param key fitted": _set(["params", "module_"], 1),
    "param key private": _set(["params", "_classes"], 1),
    "param key unknown": _set(["params", "not_a_param"], 1),
    "param key int": _set(["params", 3], 1),
    "param key prefix": _set(["params", "history__x"], 1),
    "weights_only False": _set(
        ["params", "torch_load_kwargs"], {"__dict__": [["weights_only", False]]}
    ),
    "device nonsense": _set(["params", "device"], "quantum:7"),
    "lr a string": _set(["params", "lr"], "fast"),
    "module unknown model": _set(["params", "module"], "no_such_model"),
    "module_kwargs wrong": _set(["params", "module__hidden_sizes"], "big"),
    "tag unknown": _set(["params", "lr"], {"__unknown__": 1}),
    "tag extra key": _set(["params", "lr"], {"__tuple__": [1], "x": 2}),
    "two tags": _set(["params", "lr"], {"__tuple__": [1], "__path__": "x"}),
    "tuple not list": _set(["params", "lr"], {"__tuple__": "abc"}),
    "dict pair": _set(["params", "lr"], {"__dict__": [[1, 2, 3]]}),
    "dict key list": _set(["params", "lr"], {"__dict__": [[[1], 2]]}),
    "path int": _set(["params", "checkpoint_dir"], {"__path__": 3}),
    "ndarray str": _set(["params", "class_weight"], {"__ndarray__": "abc"}),
    "object args dict": _set(
        ["params", "eval_transform"], {"__object__": "x", "args": {}, "kwargs": {}}
    ),
    "object no kwargs": _set(
        ["params", "eval_transform"], {"__object__": "cnn_estimators.transforms:ToRGB", "args": []}
    ),
    "object kwargs int keys": _set(
        ["params", "eval_transform"],
        call("cnn_estimators.transforms:Resize", **{}) | {"kwargs": {1: 2}},
    ),
    "object bad value": _set(
        ["params", "eval_transform"], call("cnn_estimators.transforms:Resize", size=-3)
    ),
    "a bare tensor param": _set(["params", "lr"], torch.ones(1)),
    "nested too deep": _set(["params", "class_weight"], _deep(200)),
    "list array too large": _set(
        ["params", "class_weight"], {"__list_array__": ["x" * 200_000] + [""] * 20_000}
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_files_raise_one_error_naming_the_file(saved, tmp_path, case):
    state = MALFORMED[case](copy.deepcopy(saved[0]))
    path = craft(state, tmp_path)
    with pytest.raises(CheckpointError, match=r"crafted\.ckpt"):
        CNNClassifier.load(path)


def test_untouched_file_loads(saved, tmp_path):
    loaded = CNNClassifier.load(craft(copy.deepcopy(saved[0]), tmp_path))
    np.testing.assert_array_equal(loaded.predict_proba(X), saved[1])


# --------------------------------------------------------------------------- allocation
def test_a_network_larger_than_its_weights_is_not_built(saved, tmp_path):
    state = copy.deepcopy(saved[0])
    state["params"]["module__hidden_sizes"] = {"__tuple__": [10**6, 10**6]}  # 4 TB
    with pytest.raises(
        CheckpointError,
        match=r"crafted\.ckpt (holds weights for another|is not a valid saved estimator: its "
        r"parameters do not build its network: Model 'mlp' .* needs about [\d.]+ GiB)",
    ):
        CNNClassifier.load(craft(state, tmp_path))


def test_an_image_size_out_of_proportion_is_not_built(saved, tmp_path):
    state = copy.deepcopy(saved[0])
    state["net_shape"] = [1, 10**6, 10**6]
    with pytest.raises(
        CheckpointError,
        match=r"crafted\.ckpt (holds weights for another|is not a valid saved estimator: its "
        r"parameters do not build its network: Model 'mlp' sized for images of shape "
        r"\(1, 1000000, 1000000\) needs about)",
    ):
        CNNClassifier.load(craft(state, tmp_path))


@pytest.mark.parametrize(
    "tensor",
    [
        torch.zeros(1).expand(10**8),  # one float, a stride-0 view of 400 MB
        torch.zeros(10).as_strided((10**7, 10**7), (0, 0)),
    ],
    ids=["expanded", "strided"],
)
def test_tensors_larger_than_the_file_are_refused(saved, tmp_path, tensor):
    state = copy.deepcopy(saved[0])
    state["params"]["class_weight"] = {"__tensor__": tensor}
    with pytest.raises(CheckpointError, match=r"crafted\.ckpt.*tensors hold \d+ bytes"):
        load_checkpoint(craft(state, tmp_path))


def test_many_views_of_one_storage_are_refused(tmp_path):
    storage = torch.zeros(100_000)
    state = {f"w{i}": storage[:] for i in range(500)}  # 500 x 400 kB from 400 kB
    state["w0"] = storage.view(1000, 100)
    path = craft(state, tmp_path)
    with pytest.raises(CheckpointError, match=r"crafted\.ckpt.*tensors hold"):
        load_checkpoint(path)


def test_sparse_tensors_are_refused(tmp_path):
    indices = torch.tensor([[0], [0]])
    sparse = torch.sparse_coo_tensor(indices, torch.ones(1), (10**6, 10**6))
    with pytest.raises(CheckpointError, match=r"crafted\.ckpt.*only dense tensors"):
        load_checkpoint(craft({"w": sparse}, tmp_path))


def test_shared_lists_are_refused_quickly(saved, tmp_path):
    value: list = [0] * 10
    for _ in range(60):  # 2**60 items when walked, a few hundred bytes when pickled
        value = [value, value]
    state = copy.deepcopy(saved[0])
    state["params"]["class_weight"] = value
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match=r"crafted\.ckpt.*(too many values|too deeply)"):
        CNNClassifier.load(craft(state, tmp_path))
    assert time.perf_counter() - start < 30


def _deflated(payload: bytes) -> bytes:
    """The same zip archive with its members compressed."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(payload)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info), compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def test_compressed_members_are_refused(tmp_path):
    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(2_500_000)}, buffer)  # 10 MB of zeros
    payload = _deflated(buffer.getvalue())
    assert len(payload) < 100_000  # expands more than 100 times
    path = tmp_path / "bomb.ckpt"
    write_raw(payload, path)
    with pytest.raises(CheckpointError, match=r"bomb\.ckpt.*compressed"):
        load_checkpoint(path)


def _u(data, at, size):
    return int.from_bytes(data[at : at + size], "little")


def _with_duplicate_member(payload: bytes) -> bytes:
    """The zip archive with a second central-directory record for its largest member:
    two members declared, one copy of the data (overlapping members)."""
    data = bytearray(payload)
    eocd = data.rindex(b"PK\x05\x06")
    zip64 = data.rfind(b"PK\x06\x06", 0, eocd)
    cd_start = data.index(b"PK\x01\x02")
    cd_end = zip64 if zip64 != -1 else eocd
    records, at = [], cd_start
    while at < cd_end:
        size = 46 + _u(data, at + 28, 2) + _u(data, at + 30, 2) + _u(data, at + 32, 2)
        records.append(bytes(data[at : at + size]))
        at += size
    extra = max(records, key=lambda r: _u(r, 24, 4))
    n = len(extra)
    end = bytearray(data[cd_end:])  # zip64 record and locator (if any), then the EOCD
    eocd -= cd_end
    end[eocd + 8 : eocd + 10] = (_u(end, eocd + 8, 2) + 1).to_bytes(2, "little")
    end[eocd + 10 : eocd + 12] = (_u(end, eocd + 10, 2) + 1).to_bytes(2, "little")
    end[eocd + 12 : eocd + 16] = (_u(end, eocd + 12, 4) + n).to_bytes(4, "little")
    if zip64 != -1:
        for field in (24, 32):  # entries on this disk, in total
            end[field : field + 8] = (_u(end, field, 8) + 1).to_bytes(8, "little")
        end[40:48] = (_u(end, 40, 8) + n).to_bytes(8, "little")  # directory size
        locator = end.index(b"PK\x06\x07")
        end[locator + 8 : locator + 16] = (_u(end, locator + 8, 8) + n).to_bytes(8, "little")
    return bytes(data[:cd_end] + extra + end)


def test_members_declaring_more_than_the_file_are_refused(tmp_path):
    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(100_000)}, buffer)
    crafted = _with_duplicate_member(buffer.getvalue())
    with zipfile.ZipFile(io.BytesIO(crafted)) as archive:  # a valid archive
        assert sum(m.file_size for m in archive.infolist()) > len(crafted)
    path = tmp_path / "overlap.ckpt"
    write_raw(crafted, path)
    with pytest.raises(CheckpointError, match=r"overlap\.ckpt.*members declare \d+ bytes, more"):
        load_checkpoint(path)


def test_a_huge_sparse_file_is_refused_by_size(tmp_path):
    path = tmp_path / "huge.ckpt"
    with open(path, "wb") as f:
        f.write(MAGIC)
        f.truncate(5 * 2**30)  # 5 GiB, no disk used
    with pytest.raises(CheckpointError, match=r"huge\.ckpt has 5368709120 bytes.*max_bytes"):
        CNNClassifier.load(path)
    with pytest.raises(CheckpointError, match=r"huge\.ckpt has 5368709120 bytes.*max_bytes"):
        load_checkpoint(path)


def test_max_bytes_can_be_raised_or_lowered(saved, tmp_path):
    path = craft(copy.deepcopy(saved[0]), tmp_path)
    with pytest.raises(CheckpointError, match=r"more than the 1000 bytes"):
        persistence.load(path, max_bytes=1000)
    persistence.load(path, max_bytes=10**9)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_devices_are_not_read(tmp_path):
    with pytest.raises(CheckpointError, match=r"/dev/zero is not a regular file"):
        load_checkpoint("/dev/zero")


# --------------------------------------------------------------------------- hypothesis
DANGEROUS = [
    "torch:os.system",
    "os:system",
    "builtins:eval",
    "builtins:exec",
    "subprocess:run",
    "torch:save",
    "torch:load",
    "cnn_estimators:os.system",
    "torch.nn.modules.loss:CrossEntropyLoss.__init__.__globals__",
]
ALLOWED = [
    "cnn_estimators.estimator:CNNClassifier",
    "torch.nn.modules.loss:CrossEntropyLoss",
    "torch.optim.sgd:SGD",
    "torch.utils.data.dataloader:DataLoader",
    "skorch.utils:to_numpy",
    "cnn_estimators.transforms:Compose",
    "cnn_estimators.transforms:Resize",
    "cnn_estimators.transforms:Normalize",
    "torchvision.transforms.v2._container:Compose",
    "cnn_estimators.adapters:PredefinedSplit",
    "skorch.callbacks.scoring:EpochScoring",
]
ALL_NAMES = ALLOWED + DANGEROUS
TAGS = ["__tuple__", "__dict__", "__ndarray__", "__path__", "__list_array__", "__tensor__"]
TAGS += ["__ref__", "__object__", "args", "kwargs"]
FIELDS = ["params", "fitted", "classes", "kind", "net_shape", "feature_names", "history"]
FIELDS += ["optimizer", "module", "versions", "format"]

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True),
    st.sampled_from([COMMAND, MARKER, "cpu", "mlp", "sgd", "[]", "x" * 50]),
    st.sampled_from(ALL_NAMES),
    st.builds(torch.zeros, st.integers(0, 4)),
    st.builds(lambda n: {"__ref__": n}, st.sampled_from(ALL_NAMES)),
)


def _extend(children):
    keys = st.one_of(st.sampled_from(TAGS), st.text(max_size=8))
    return st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(keys, children, max_size=3),
        st.builds(
            lambda name, args, kwargs: {"__object__": name, "args": args, "kwargs": kwargs},
            st.sampled_from(ALL_NAMES),
            st.lists(children, max_size=3),
            st.dictionaries(
                st.sampled_from(["size", "p", "X", "mean", "transforms"]), children, max_size=2
            ),
        ),
        st.builds(lambda tag, v: {tag: v}, st.sampled_from(TAGS), children),
    )


payloads = st.recursive(leaves, _extend, max_leaves=20)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    field=st.sampled_from(FIELDS),
    param=st.sampled_from(["criterion", "eval_transform", "module", "callbacks", "lr", "new"]),
    payload=payloads,
)
def test_random_payloads_load_or_raise_checkpoint_error(saved, tmp_path, field, param, payload):
    state = copy.deepcopy(saved[0])
    if field == "params":
        state["params"][param] = payload
    else:
        state[field] = payload
    path = craft(state, tmp_path, "random.ckpt")
    try:
        CNNClassifier.load(path)
    except CheckpointError as exc:
        assert "random.ckpt" in str(exc)
    assert not os.path.exists(MARKER)


# --------------------------------------------------------------------------- the list
@pytest.mark.parametrize("key", persistence.ALLOWED_NAMES)
def test_every_allowed_name_is_the_objects_own_name(key):
    from cnn_estimators._allowlist import _import

    obj = _import(key)
    _, _, name = key.partition(":")
    assert "." not in name
    assert f"{obj.__module__}:{obj.__qualname__}" == key


# --------------------------------------------------------------------------- resume state
def _resumable(directory):
    return CNNClassifier(
        "mlp",
        module__hidden_sizes=(8,),
        max_epochs=1,
        random_state=0,
        device="cpu",
        checkpoint_dir=directory,
        resume=True,
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished resumable run: its directory and its training state."""
    directory = tmp_path_factory.mktemp("runs")
    est = _resumable(directory).fit(X, Y)
    state_file = os.path.join(est.checkpoint_path_, "training_state.ckpt")
    return directory, state_file, load_checkpoint(state_file)


STATES = {
    "a plain state dict": lambda s: s["module"],
    "a list": lambda s: [s],
    "missing module": lambda s: {k: v for k, v in s.items() if k != "module"},
    "module a list": lambda s: {**s, "module": [1]},
    "optimizer a string": lambda s: {**s, "optimizer": "adam"},
    "history not JSON": lambda s: {**s, "history": "[{"},
    "complete a string": lambda s: {**s, "complete": "yes"},
    "epochs_done negative": lambda s: {**s, "epochs_done": -1},
    "rng_torch short": lambda s: {**s, "rng_torch": torch.zeros(3, dtype=torch.uint8)},
    "rng_numpy short": lambda s: {**s, "rng_numpy": s["rng_numpy"][:2]},
    "rng_python": lambda s: {**s, "rng_python": [3, [1, 2], None]},
    "scheduler a list": lambda s: {**s, "scheduler": [1]},
    "scheduler replacing its optimizer": lambda s: {**s, "scheduler": {"optimizer": 1}},
    "scheduler replacing a method": lambda s: {**s, "scheduler": {"__class__": 1}},
}


@pytest.mark.parametrize("case", sorted(STATES))
def test_resume_refuses_a_malformed_training_state(run, case):
    directory, state_file, state = run
    original = open(state_file, "rb").read()
    try:
        save_checkpoint(STATES[case](copy.deepcopy(state)), state_file)
        with pytest.raises(CheckpointError, match=r"training_state\.ckpt"):
            _resumable(directory).fit(X, Y)
    finally:
        with open(state_file, "wb") as f:
            f.write(original)


def test_resume_refuses_a_huge_sparse_training_state(run):
    directory, state_file, _ = run
    original = open(state_file, "rb").read()
    try:
        with open(state_file, "r+b") as f:
            f.truncate(5 * 2**30)
        with pytest.raises(CheckpointError, match=r"training_state\.ckpt has \d+ bytes"):
            _resumable(directory).fit(X, Y)
    finally:
        with open(state_file, "wb") as f:
            f.write(original)
    assert _resumable(directory).fit(X, Y).n_iter_ == 1  # the restored state loads
