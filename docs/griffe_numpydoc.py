"""Griffe extension used by mkdocs.yml: render the package's numpydoc docstrings faithfully.

The docstrings follow numpydoc/Sphinx conventions that griffe's numpy parser reads
differently. This extension rewrites the docstring text before it is parsed, for the
rendered site only (the source files are not touched):

* ``name : {"a", "b"} or X, default="b"``: griffe takes a braced set of choices as the
  whole type and its *first* element as the default (numpydoc's "default first"
  convention), dropping ``or X`` and the stated default. The type becomes
  ``one of {"a", "b"} or X``, so it is kept as written and the default comes from
  ``default=`` or, if absent, from the signature.
* ``a, b, c : type`` (several parameters described together): griffe gives all of them the
  default of the first one. Such an item is repeated for each name, so each default
  comes from the signature; ``a, b : float, default=1e-7, 10.0`` (one default per name)
  gives each name its own default.
* ``array-like`` / ``path-like`` in a type would be parsed as the expression
  ``array - like``; they are written ``array_like`` / ``path_like`` (numpydoc's spelling).
* Sphinx roles (``:func:`~pkg.f```, ``:class:`X```, ...) have no meaning in Markdown;
  they become code spans (``f()``, ``X``), keeping only the last name for ``~`` targets.
* A ``*`` between two letters in prose (``C*H*W``) would start Markdown emphasis; it is
  escaped. Code spans and doctest lines are left alone.

Module attributes are documented in the code with Sphinx's ``#:`` comments on the lines
just above the assignment (``#: Optimizer names accepted by ...``), which griffe does not
read; they become the attribute's docstring when it has none.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import griffe

# Sections whose items are "name : type" headers followed by an indented description.
_ITEM_SECTIONS = {"parameters", "other parameters", "attributes", "receives"}
_UNDERLINE = re.compile(r"^\s*-{3,}\s*$")
_NAMES = r"\*{0,2}\w+(?:\s*,\s*\*{0,2}\w+)*"
_ITEM = re.compile(rf"^(?P<names>{_NAMES})(?:\s+:\s+(?P<type>.+))?\s*$")
_ROLE = re.compile(
    r":(?:py:)?(?P<role>func|meth|class|mod|attr|data|obj|exc|const):`(?P<target>[^`]+)`"
)
_LIKE = re.compile(r"\b(array|path|file|list|dict)-like\b")
_INNER_STAR = re.compile(r"(?<=\w)\*(?=\w)")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")


def _role(match: re.Match[str]) -> str:
    target = match["target"].strip()
    if target.startswith("~"):
        target = target[1:].rsplit(".", 1)[-1]
    if match["role"] in ("func", "meth") and not target.endswith(")"):
        target += "()"
    return f"`{target}`"


def _prose(line: str) -> str:
    """Replace Sphinx roles and escape in-word ``*`` outside code spans."""
    line = _ROLE.sub(_role, line)
    if line.lstrip().startswith((">>>", "...")):
        return line
    out, last = [], 0
    for span in _CODE_SPAN.finditer(line):
        out += [_INNER_STAR.sub(r"\\*", line[last : span.start()]), span.group()]
        last = span.end()
    out.append(_INNER_STAR.sub(r"\\*", line[last:]))
    return "".join(out)


def _split_defaults(kind: str | None, n: int) -> list[str | None]:
    """``float, default=1e-7, 10.0`` for 2 names: one type string per name, each with its
    own default; the type unchanged for every name otherwise."""
    if kind is None or n < 2:
        return [kind] * n
    head, sep, defaults = kind.rpartition("default=")
    values = [v.strip() for v in defaults.split(",")] if sep else []
    if len(values) != n or any(not v or v[0] in "([{" for v in values):
        return [kind] * n
    return [f"{head}default={value}" for value in values]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def rewrite(text: str) -> str:
    """Return the docstring ``text`` with the rewrites described in the module docstring."""
    lines = text.splitlines()
    out: list[str] = []
    section = ""
    base = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        if i + 1 < len(lines) and line.strip() and _UNDERLINE.match(lines[i + 1]):
            section, base = line.strip().lower(), _indent(line)
            out += [line, lines[i + 1]]
            i += 2
            continue
        item = _ITEM.match(line.strip()) if section in _ITEM_SECTIONS else None
        if item is None or not line.strip() or _indent(line) != base:
            out.append(_prose(line))
            i += 1
            continue
        # An item header: collect its description (more indented lines, blank lines inside).
        body: list[str] = []
        j = i + 1
        while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > base):
            if not lines[j].strip() and (j + 1 >= len(lines) or _indent(lines[j + 1]) <= base):
                break
            body.append(_prose(lines[j]))
            j += 1
        kind = item["type"]
        if kind is not None:
            if kind.startswith("{"):
                kind = "one of " + kind
            kind = _LIKE.sub(r"\1_like", kind)
        pad = " " * base
        names = re.split(r"\s*,\s*", item["names"])
        kinds = _split_defaults(kind, len(names))
        for name, own_kind in zip(names, kinds, strict=True):
            out.append(f"{pad}{name} : {own_kind}" if own_kind is not None else f"{pad}{name}")
            out += body
        i = j
    return "\n".join(out)


@cache
def _source_lines(path: str) -> tuple[str, ...]:
    try:
        return tuple(Path(path).read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError):
        return ()


def comment_docstring(obj: griffe.Object) -> str | None:
    """The ``#:`` comment lines right above an attribute's assignment, without the marks."""
    filepath, lineno = getattr(obj, "filepath", None), getattr(obj, "lineno", None)
    if not obj.is_attribute or filepath is None or not lineno or isinstance(filepath, list):
        return None
    lines = _source_lines(str(filepath))
    found: list[str] = []
    i = lineno - 2  # the line above the assignment, 0-based
    while 0 <= i < len(lines) and lines[i].lstrip().startswith("#:"):
        found.insert(0, lines[i].lstrip()[2:].strip())
        i -= 1
    return "\n".join(found) or None


class NumpydocCompat(griffe.Extension):
    """Apply :func:`rewrite` to every docstring once the object tree is loaded, and turn
    ``#:`` comments into the docstrings of module attributes."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is None:
            text = comment_docstring(obj)
            if text is not None:
                obj.docstring = griffe.Docstring(text, parent=obj)
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)
