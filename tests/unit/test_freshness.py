"""Feature values changed in place are noticed; alflow's own writes are not mistaken for them."""

from __future__ import annotations

import numpy as np

from alflow.data import freshness


def test_the_filter_skips_own_write_windows_and_needs_a_mark():
    assert freshness.modified_filter({"mark": None, "own_writes": []}) is None
    state = {
        "mark": "2026-12-01T09:00:00+00:00",
        "own_writes": [["2026-12-01T09:01:00+00:00", "2026-12-01T09:02:00+00:00"]],
    }
    query = freshness.modified_filter(state)
    assert "$gt" in query["last_modified_at"] and len(query["$nor"]) == 1


def test_row_digests_tell_rows_apart():
    a = freshness.row_digests(np.array([[1.0, 2.0], [1.0, 2.0], [1.0, 2.5]]))
    assert a[0] == a[1] != a[2]
