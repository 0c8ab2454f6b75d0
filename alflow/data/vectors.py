"""FiftyOne's stored vectors decoded in bulk: pure logic on the raw bytes of a projected query.

FiftyOne stores a vector field as zlib-compressed ``np.save`` bytes and its ``values()`` decodes
them one by one with ``np.load`` (17 s or more for 100k x 512 on a busy machine); one raw
projection plus :func:`decode_vectors` took 1.5 s. Kept apart from :mod:`alflow.data.store` (the
database I/O) so it is tested without a database.
"""

from __future__ import annotations

import io
import zlib
from typing import Any

import numpy as np


def decode_vectors(values: list[Any]) -> Any:
    """FiftyOne's stored vectors (zlib-compressed ``np.save`` bytes) as one 2-D array.

    Rows that share the ``.npy`` header (same dtype and length: the usual case) are decoded by
    one ``frombuffer`` over their concatenation; anything else (missing values, ragged or mixed
    vectors, plain numbers or lists) is returned as a list for the feature checks to judge.
    """
    if not values or not all(isinstance(v, bytes) for v in values):
        return [_load(v) if isinstance(v, bytes) else v for v in values]
    raw = [zlib.decompress(v) for v in values]
    if len({len(r) for r in raw}) != 1:
        return [np.load(io.BytesIO(r)) for r in raw]
    stream = io.BytesIO(raw[0])
    version = np.lib.format.read_magic(stream)
    read_header = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    shape, fortran, dtype = read_header(stream)
    header = stream.tell()
    table = np.frombuffer(b"".join(raw), dtype=np.uint8).reshape(len(raw), -1)
    if fortran or dtype.hasobject or not (table[:, :header] == table[0, :header]).all():
        return [np.load(io.BytesIO(r)) for r in raw]
    return table[:, header:].view(dtype).reshape(len(raw), *shape)  # read-only: no copy


def _load(value: bytes) -> np.ndarray:
    return np.load(io.BytesIO(zlib.decompress(value)))
