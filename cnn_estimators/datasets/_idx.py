"""Parser for the IDX format of MNIST and Fashion-MNIST, plain or gzip-compressed."""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = ["read_idx"]

GZIP_MAGIC = b"\x1f\x8b"

#: IDX data type code -> big-endian numpy dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path: Path) -> tuple[bytes, bytes]:
    """Return ``(file_bytes, idx_bytes)``: the file as stored and its decompressed content.

    Compression is detected by the gzip magic bytes, not by the file name.
    """
    raw = path.read_bytes()
    if not raw.startswith(GZIP_MAGIC):
        return raw, raw
    try:
        content = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise ValueError(
            f"{path}: corrupt gzip file ({type(exc).__name__}: {exc}); "
            "delete it and download it again"
        ) from exc
    return raw, content


def _parse_idx(content: bytes, path: Path) -> np.ndarray:
    """Parse the (decompressed) bytes of an IDX file; ``path`` is used in error messages."""
    if len(content) < 4:
        raise ValueError(
            f"{path}: not an IDX file: only {len(content)} bytes, too short for the 4-byte header"
        )
    if content[:2] != b"\x00\x00":
        raise ValueError(
            f"{path}: not an IDX file: bad magic number, expected the first two bytes to be "
            f"00 00, found {content[:2].hex(' ')} (header {content[:4].hex(' ')})"
        )
    code, ndim = content[2], content[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise ValueError(
            f"{path}: not an IDX file: unknown data type code 0x{code:02X} in the header "
            f"(known: {known})"
        )
    if ndim == 0:
        raise ValueError(f"{path}: invalid IDX header: 0 dimensions")
    header_size = 4 + 4 * ndim
    if len(content) < header_size:
        raise ValueError(
            f"{path}: truncated IDX header: {ndim} dimensions need {header_size} header bytes, "
            f"the file has {len(content)} bytes"
        )
    shape = tuple(int.from_bytes(content[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    actual = len(content) - header_size
    if actual != expected:
        problem = "truncated" if actual < expected else "trailing bytes after the data"
        raise ValueError(
            f"{path}: IDX data size mismatch ({problem}): header shape {shape} of "
            f"{dtype.newbyteorder('=').name} needs {expected} data bytes, found {actual}"
        )
    data = np.frombuffer(content, dtype=dtype, offset=header_size).reshape(shape)
    # Copy into native byte order: a writable array that does not pin ``content``.
    return data.astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (the format of MNIST and Fashion-MNIST).

    Gzip-compressed files are recognised by their content (magic bytes
    ``1f 8b``), whatever their name. The header is validated and the array is
    returned in native byte order.

    Parameters
    ----------
    path : str or path-like
        The file to read.

    Returns
    -------
    ndarray
        Array with the shape and dtype given by the header (uint8, int8, int16,
        int32, float32 or float64).

    Raises
    ------
    ValueError
        If the file is not a valid IDX file: bad magic number, unknown data
        type, data shorter or longer than the header says, or a corrupt gzip
        stream. The message names the file.

    Examples
    --------
    >>> import gzip, tempfile
    >>> from pathlib import Path
    >>> from cnn_estimators.datasets import load_digits_images, read_idx
    >>> labels = load_digits_images().y_test[:5].astype("uint8")
    >>> header = bytes([0, 0, 0x08, 1]) + len(labels).to_bytes(4, "big")
    >>> path = Path(tempfile.mkdtemp()) / "labels-idx1-ubyte.gz"
    >>> _ = path.write_bytes(gzip.compress(header + labels.tobytes()))
    >>> read_idx(path).tolist() == labels.tolist()
    True
    """
    path = Path(path)
    _, content = _read_bytes(path)
    return _parse_idx(content, path)
