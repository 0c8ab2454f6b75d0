"""Grouping rows by equal values for the bulk writes: every row once, bounded groups."""

from __future__ import annotations

import numpy as np
import pytest

from alflow.data import bulk_writes
from alflow.errors import DatasetError


def test_every_row_lands_in_exactly_one_group_of_equal_keys_in_row_order():
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 4, 1_000)
    confidence = rng.integers(0, 5, 1_000) / 4
    seen: list[int] = []
    keys = set()
    for first, rows in bulk_writes.groups([codes, confidence], part=30):
        assert 0 < len(rows) <= 30 and first == rows[0] and (np.diff(rows) > 0).all()
        assert len({(codes[r], confidence[r]) for r in rows}) == 1
        keys.add((codes[first], confidence[first]))
        seen += rows.tolist()
    assert sorted(seen) == list(range(1_000))
    assert keys == set(zip(codes.tolist(), confidence.tolist(), strict=True))


def test_distinct_values_make_one_group_each_and_no_rows_none():
    groups = list(bulk_writes.groups([np.array([2, 1, 2]), np.array([0.5, 0.5, 0.25])]))
    assert [rows.tolist() for _, rows in groups] == [[1], [2], [0]]
    assert list(bulk_writes.groups([np.array([], int), np.array([])])) == []


class FailingDatabase:
    def command(self, name, collection, updates, ordered):
        assert name == "update" and not ordered
        return {"n": len(updates) - 1, "writeErrors": [{"index": 0, "errmsg": "disk full"}]}


class FailingCollection:
    name = "samples.x"
    database = FailingDatabase()


def test_a_failed_update_is_one_line_saying_what_failed_and_what_to_do():
    ops = [({"q": {"_id": i}, "u": {"$set": {"f": 1}}}, 1) for i in range(3)]
    with pytest.raises(DatasetError, match=r"^1 update of 'samples.x' failed \(disk full\); run"):
        bulk_writes._bulk_update(FailingCollection(), ops, None)
