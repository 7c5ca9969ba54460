"""A self-contained HTML report: configuration, tables and figures in one file.

Figures are embedded as base64 PNG images, styles are inline, and nothing is fetched
from the network, so ``report.html`` can be mailed, archived or opened offline.
"""

from __future__ import annotations

import base64
import html
import inspect
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Report", "non_default_params"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .6em 0; font-size: .92em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th { background: #f2f2f2; }
td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; border: 1px solid #eee; }
pre { background: #f7f7f7; padding: .8em; overflow-x: auto; }
.note { color: #555; font-size: .9em; }
"""


def _same(value: Any, default: Any) -> bool:
    if value is default:
        return True
    if isinstance(value, bool) != isinstance(default, bool):
        return False  # 1 == True, but they are different settings
    number = (int, float, np.number)
    if type(value) is not type(default) and not (
        isinstance(value, number) and isinstance(default, number)
    ):
        return False
    try:
        return bool(np.all(value == default))
    except Exception:  # objects that cannot be compared: only the same object is equal
        return False


def non_default_params(estimator: Any) -> dict[str, Any]:
    """The parameters of ``estimator`` that differ from the defaults of its class.

    Parameters
    ----------
    estimator : scikit-learn estimator
        Any estimator with ``get_params``; routed parameters of a skorch net
        (``module__*``, ``optimizer__*``, ``criterion__*``, ...) have no default and are
        always included.

    Returns
    -------
    dict
        ``{name: value}`` in the order of ``get_params(deep=False)``; together with the
        class, these parameters rebuild the estimator.

    Examples
    --------
    >>> from cnn_estimators import CNNClassifier
    >>> from cnn_estimators.report import non_default_params
    >>> est = CNNClassifier("bn_cnn", lr=0.01, optimizer="sgd", optimizer__momentum=0.9)
    >>> non_default_params(est)
    {'module': 'bn_cnn', 'optimizer': 'sgd', 'lr': 0.01, 'optimizer__momentum': 0.9}
    """
    signature = inspect.signature(type(estimator).__init__).parameters
    out = {}
    for name, value in estimator.get_params(deep=False).items():
        param = signature.get(name)
        if param is None or param.default is inspect.Parameter.empty:
            out[name] = value
        elif not _same(value, param.default):
            out[name] = value
    return out


def _figure_png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return buffer.getvalue()


class Report:
    """Collect sections, then :meth:`write` one HTML file.

    Parameters
    ----------
    title : str
        The page's title.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> report = Report("demo")
    >>> report.add_table("Scores", pd.DataFrame({"fold": [1, 2], "accuracy": [0.9, 0.8]}))
    >>> path = report.write(tempfile.mkdtemp() + "/report.html")
    >>> "<table" in open(path).read()
    True
    """

    def __init__(self, title: str) -> None:
        self.title = title
        self.sections: list[str] = []
        self.n_figures = 0

    def add_text(self, heading: str, text: str) -> None:
        """A paragraph (plain text, escaped)."""
        self.sections.append(f"<h2>{html.escape(heading)}</h2><p>{html.escape(text)}</p>")

    def add_config(self, heading: str, config: dict[str, Any]) -> None:
        """A dictionary shown as JSON (values that JSON cannot hold are shown by repr)."""
        text = json.dumps(config, indent=2, sort_keys=True, default=repr)
        self.sections.append(f"<h2>{html.escape(heading)}</h2><pre>{html.escape(text)}</pre>")

    def add_table(self, heading: str, table: pd.DataFrame, *, floatfmt: str = "{:.4f}") -> None:
        """A DataFrame as an HTML table."""
        formatted = table.to_html(
            index=False,
            border=0,
            escape=True,
            float_format=lambda v: floatfmt.format(v),
        )
        self.sections.append(f"<h2>{html.escape(heading)}</h2>{formatted}")

    def add_figure(self, heading: str, fig: Any, *, caption: str = "") -> None:
        """A matplotlib figure, embedded as a PNG (the figure is closed afterwards)."""
        import matplotlib.pyplot as plt

        data = base64.b64encode(_figure_png(fig)).decode("ascii")
        plt.close(fig)
        self.n_figures += 1
        alt = html.escape(heading)
        cap = f'<p class="note">{html.escape(caption)}</p>' if caption else ""
        self.sections.append(
            f'<h2>{alt}</h2><img alt="{alt}" src="data:image/png;base64,{data}">{cap}'
        )

    def to_html(self) -> str:
        """The whole page."""
        title = html.escape(self.title)
        body = "\n".join(self.sections)
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{title}</title><style>{_STYLE}</style></head>"
            f"<body><h1>{title}</h1>\n{body}\n"
            '<p class="note">Written by cnn_estimators.</p></body></html>\n'
        )

    def write(self, path: str | os.PathLike) -> str:
        """Write the page to ``path`` and return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_html(), encoding="utf-8")
        return str(path)
