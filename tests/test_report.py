"""report.html: self-contained, and rendered by a real browser with no broken image."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cnn_estimators.report import Report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _report(tmp_path):
    report = Report("A <test> report")
    report.add_config("Configuration", {"lr": 0.01, "module": "fashion_cnn"})
    report.add_table("Scores", pd.DataFrame({"fold": [0, 1], "accuracy": [0.91, 0.88]}))
    for title in ("Curve", "Bars"):
        fig, ax = plt.subplots()
        ax.plot(np.arange(10), np.arange(10) ** 2)
        ax.set_title(title)
        report.add_figure(title, fig)
    return report.write(tmp_path / "report.html")


def test_report_is_self_contained_and_escaped(tmp_path):
    html = open(_report(tmp_path)).read()
    assert "&lt;test&gt;" in html and "<test>" not in html
    assert not re.search(r"""(src|href)=["'](?!data:)""", html)  # nothing fetched
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)
    assert len(images) == 2
    for data in images:
        image = Image.open(io.BytesIO(base64.b64decode(data)))
        image.verify()


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")
def test_report_renders_in_headless_chromium(tmp_path):
    path = _report(tmp_path)
    # Count the images the browser failed to decode, after load, into the DOM.
    probe = tmp_path / "probe.html"
    probe.write_text(
        open(path)
        .read()
        .replace(
            "</body>",
            "<script>window.addEventListener('load', () => {const imgs = [...document.images];"
            "document.body.dataset.images = imgs.length; document.body.dataset.broken = "
            "imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length;});</script></body>",
        )
    )
    user_dir = tmp_path / "profile"
    dom = subprocess.run(
        [
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={user_dir}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert 'data-images="2"' in dom and 'data-broken="0"' in dom, dom[-500:]
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={user_dir}",
            f"--screenshot={shot}",
            "--window-size=1100,1400",
            (tmp_path / "report.html").as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.std() > 5  # not a blank page


def test_non_default_params():
    from sklearn.linear_model import LogisticRegression

    from cnn_estimators import CNNClassifier, make_fashion_mnist_cnn
    from cnn_estimators.report import non_default_params

    assert non_default_params(CNNClassifier()) == {}
    assert non_default_params(LogisticRegression(C=2.0, fit_intercept=True)) == {"C": 2.0}
    # 1 == True and 0.0 == False, but they are different settings; 1 == 1.0 is the same.
    assert non_default_params(LogisticRegression(fit_intercept=1, C=1)) == {"fit_intercept": 1}
    params = non_default_params(make_fashion_mnist_cnn(max_epochs=2))
    assert params["module"] == "fast_cnn_v2" and params["lr"] == 0.6
    assert params["max_epochs"] == 2 and params["optimizer__nesterov"] is True
    assert params["lr_schedule"] == "onecycle" and "device" not in params
    assert set(params) == {
        "module",
        "optimizer",
        "lr",
        "max_epochs",
        "batch_size",
        "optimizer__momentum",
        "optimizer__nesterov",
        "optimizer__weight_decay",
        "criterion__label_smoothing",
        "lr_schedule",
        "eval_transform",
        "precision",
    }
