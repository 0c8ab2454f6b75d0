"""Decoding FiftyOne's stored vectors in one pass gives what FiftyOne's own decoder gives."""

from __future__ import annotations

import numpy as np
import pytest
from fiftyone.core.utils import serialize_numpy_array

from alflow.data.vectors import decode_vectors


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("shape", [(7,), (2, 3)])
def test_equal_vectors_decode_at_once_exactly(dtype, shape):
    rng = np.random.default_rng(0)
    vectors = [(rng.normal(size=shape) * 10).astype(dtype) for _ in range(5)]
    decoded = decode_vectors([serialize_numpy_array(v) for v in vectors])
    assert isinstance(decoded, np.ndarray) and decoded.dtype == dtype
    np.testing.assert_array_equal(decoded, np.stack(vectors))


def test_ragged_missing_and_plain_values_are_left_for_the_feature_checks():
    ragged = decode_vectors([serialize_numpy_array(np.ones(3)), serialize_numpy_array(np.ones(4))])
    assert [len(v) for v in ragged] == [3, 4]
    missing = decode_vectors([serialize_numpy_array(np.ones(3)), None])
    assert missing[1] is None and len(missing[0]) == 3
    mixed = decode_vectors(
        [serialize_numpy_array(np.ones(3, np.float32)), serialize_numpy_array(np.ones(3))]
    )
    assert isinstance(mixed, list)  # same length, different dtype: decoded row by row
    assert decode_vectors([1.5, 2.0]) == [1.5, 2.0]
