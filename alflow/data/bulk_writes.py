"""alflow's own values written to samples in bulk, straight to MongoDB: predictions, split markers,
the App review's round numbers.

FiftyOne's ``set_values`` builds and validates a label object per sample (about 0.35 ms each: six
minutes for a million samples). These values are simple and trusted, so they go as raw unordered
bulk updates of fields declared in the schema first; FiftyOne then reads them like any other.
Three things make a big write cheap:

- **Samples that share a value go as one** ``UpdateMany`` per part of their ids, which MongoDB
  applies several times faster than one update per sample. A split has two values. A refitted
  forest's predictions share far fewer values than samples: a label and a confidence that is a
  vote count over the trees, so the million predictions of a RandomForest(100) round are about
  a thousand groups (measured: 100k predictions in 1,000 groups took 0.8 s, one update each
  2.2 s). Only predictions that exist already are updated this way, field by field, so each
  keeps its label id; new ones (the first write, or a prediction deleted by hand) are written
  whole, one update each, with a fresh label id.
- **Bulk writes are sent from threads** while the next part is built: MongoDB applies one part
  on its own threads while Python builds and encodes the next.
- **They leave ``last_modified_at`` alone.** FiftyOne indexes it, and moving it doubled the
  cost of an update (100k grouped prediction updates on a 1M-sample dataset: 2.2 s with it,
  1.0 s without). It also keeps its meaning: the sample's data or labels changed, which is what
  :mod:`alflow.data.freshness` (and anyone syncing a dataset) asks of it. A prediction says when it
  was written by its ``round``; a split marker is written once, at loop creation.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from bson import ObjectId

from alflow.data import store
from alflow.errors import DatasetError, plural
from alflow.services.connections import db
from alflow.services.connections import fiftyone as _fo
from alflow.state import locks

WRITES_IN_FLIGHT = 2  # bulk writes sent while the next part is built
PART = 10_000  # samples per bulk write, and ids per UpdateMany

Advance = Callable[[int], None] | None


def groups(keys: Sequence[np.ndarray], part: int = PART) -> Iterator[tuple[int, np.ndarray]]:
    """Rows that share every key, as ``(first row, rows)`` with at most ``part`` rows each.

    Pure: ``keys`` are equal-length arrays (a class code and a confidence, say); rows of a group
    come in their original order, and groups in the order of their keys.
    """
    if not len(keys[0]):
        return
    order = np.lexsort(keys[::-1])
    sorted_keys = [np.asarray(k)[order] for k in keys]
    new = np.zeros(len(order), dtype=bool)
    new[0] = True
    for k in sorted_keys:
        new[1:] |= k[1:] != k[:-1]
    starts = np.flatnonzero(new)
    for start, stop in zip(starts, [*starts[1:], len(order)], strict=True):
        rows = np.sort(order[start:stop])
        for at in range(0, len(rows), part):
            chunk = rows[at : at + part]
            yield int(chunk[0]), chunk


def write_predictions(
    dataset,
    field: str,
    ids: Sequence[str],
    classes: Sequence[str],
    codes: np.ndarray,
    confidences: np.ndarray,
    round_number: int,
    existing: np.ndarray | None = None,
    on_chunk: Advance = None,
) -> int:
    """Write a Classification ``classes[code]`` with its confidence on each of ``ids``; returns
    how many samples were written (a sample deleted meanwhile is not).

    ``existing`` marks the samples that already hold a prediction in ``field``: those are
    updated in groups of equal values, keeping their label ids. A sample marked but holding none
    after all (set to None by hand) is then written whole, like the others.
    """
    store.ensure_classification_field(dataset, field, {"round": _fo().IntField})
    collection = store.samples_collection(dataset)
    batch = _Batch(
        field,
        tuple(str(c) for c in classes),
        np.asarray([ObjectId(str(i)) for i in ids], dtype=object),
        np.asarray(codes),
        np.asarray(confidences, dtype=np.float64),
        round_number,
    )
    held = np.zeros(len(batch.oids), bool) if existing is None else np.asarray(existing, bool)
    written = _bulk_update(collection, batch.whole(np.flatnonzero(~held)), on_chunk)
    rows = np.flatnonzero(held)
    updated = _bulk_update(collection, batch.by_value(rows), on_chunk)
    if updated < len(rows):  # some had no prediction after all, or were deleted
        without = set(_without(collection, field, batch.oids[rows]))  # np.isin: O(n m) on objects
        lost = rows[[oid in without for oid in batch.oids[rows]]]
        updated += _bulk_update(collection, batch.whole(lost), None)
    return written + updated


@dataclass(frozen=True)
class _Batch:
    """The predictions of one write, as bulk operations on chosen rows."""

    field: str
    classes: tuple[str, ...]
    oids: np.ndarray
    codes: np.ndarray
    confidences: np.ndarray
    round_number: int

    def whole(self, rows: np.ndarray) -> Iterator[tuple[dict, int]]:
        """One update per sample, setting the whole label with a fresh label id."""
        for row in rows:
            label = {
                "_id": ObjectId(),
                "_cls": "Classification",
                "tags": [],
                "label": self.classes[self.codes[row]],
                "confidence": float(self.confidences[row]),
                "round": self.round_number,
            }
            yield {"q": {"_id": self.oids[row]}, "u": {"$set": {self.field: label}}}, 1

    def by_value(self, rows: np.ndarray) -> Iterator[tuple[dict, int]]:
        """One update per group of equal values, setting the existing labels' values."""
        for first, group in groups([self.codes[rows], self.confidences[rows]]):
            row = rows[first]
            values = {
                f"{self.field}.label": self.classes[self.codes[row]],
                f"{self.field}.confidence": float(self.confidences[row]),
                f"{self.field}.round": self.round_number,
            }
            where = {"_id": {"$in": list(self.oids[rows[group]])}, self.field: {"$type": "object"}}
            yield {"q": where, "u": {"$set": values}, "multi": True}, len(group)


def _without(collection, field: str, oids: np.ndarray) -> list[ObjectId]:
    """Which of ``oids`` exist but hold no embedded document in ``field``."""
    found: list[ObjectId] = []
    for at in range(0, len(oids), PART):
        query = {"_id": {"$in": list(oids[at : at + PART])}, field: {"$not": {"$type": "object"}}}
        found += [doc["_id"] for doc in collection.find(query, {"_id": 1})]
    return found


def write_strings(dataset, field: str, values: Mapping[str, str], on_chunk: Advance = None) -> int:
    """Set a string ``field`` for ``{sample id: value}``; returns how many samples were written.

    A split marker per sample is a trusted scalar, and per-sample validation would dominate the
    cost of creating a loop on a large dataset; samples sharing a value go as one update.
    """
    return _write_scalars(
        dataset, field, {sid: str(v) for sid, v in values.items()}, _fo().StringField, on_chunk
    )


def write_ints(dataset, field: str, values: Mapping[str, int]) -> int:
    """Set an int ``field`` for ``{sample id: value}`` (a round's number on its batch); returns
    how many samples were written."""
    return _write_scalars(
        dataset, field, {sid: int(v) for sid, v in values.items()}, _fo().IntField, None
    )


def clear_where(dataset, field: str, ids: Sequence[str], value: Any) -> int:
    """Set ``field`` to None on those of ``ids`` whose ``field`` is ``value``; returns how many.

    A withdrawn round clears its number on its batch but not a later round's on a sample shown
    again since.
    """
    oids = [ObjectId(sid) for sid in ids]
    updates = (
        (
            {
                "q": {"_id": {"$in": part}, field: value},
                "u": {"$set": {field: None}},
                "multi": True,
            },
            len(part),
        )
        for part in (oids[at : at + PART] for at in range(0, len(oids), PART))
    )
    return _bulk_update(store.samples_collection(dataset), updates, None)


def _write_scalars(dataset, field: str, values: Mapping[str, Any], kind, on_chunk: Advance) -> int:
    """Declare ``field`` as ``kind`` if it is new, then write ``values``, one update per value."""
    if not values:
        return 0
    if field not in dataset.get_field_schema():
        with locks.dataset_schema(db(), dataset):
            if field not in dataset.get_field_schema():
                dataset.add_sample_field(field, kind)
    by_value: dict[Any, list[ObjectId]] = {}
    for sid, v in values.items():
        by_value.setdefault(v, []).append(ObjectId(sid))
    updates = (
        ({"q": {"_id": {"$in": part}}, "u": {"$set": {field: value}}, "multi": True}, len(part))
        for value, ids in by_value.items()
        for part in (ids[at : at + PART] for at in range(0, len(ids), PART))
    )
    return _bulk_update(store.samples_collection(dataset), updates, on_chunk)


def write_detections_documents(
    dataset, field: str, documents: Mapping[str, dict] | Iterable[tuple[str, dict]]
) -> int:
    """Set ``field`` to each ``Detections`` document of ``{sample id: document}`` or of
    ``(sample id, document)`` pairs (a round's predicted ``Detections``, as
    :func:`alflow.data.detections.predicted_documents` builds them), one raw update each;
    returns how many samples were written. Pairs are read as the writes go, so a generator's
    next documents are built while MongoDB applies the first.

    The first goes through FiftyOne as a label (:func:`alflow.data.store.write_labels`), which
    declares the field and its attributes; the others are sent as they are. At 100k images
    FiftyOne's ``set_values`` of Detections took over a minute.
    """
    items = iter(documents.items() if isinstance(documents, Mapping) else documents)
    first = next(items, None)
    if first is None:
        return 0
    store.write_labels(dataset, field, {first[0]: _fo().Detections.from_dict(first[1])})
    updates = (({"q": {"_id": ObjectId(i)}, "u": {"$set": {field: doc}}}, 1) for i, doc in items)
    return 1 + _bulk_update(store.samples_collection(dataset), updates, None)


def _bulk_update(collection, updates: Iterable[tuple], on_chunk: Advance) -> int:
    """Send ``(operation, samples it covers)`` pairs in unordered bulk writes of about
    :data:`PART` samples; returns the samples matched.

    Up to :data:`WRITES_IN_FLIGHT` bulk writes are in flight, from threads, while this one
    builds the next. A failed write raises here once the parts in flight are done.
    """
    matched = 0
    with ThreadPoolExecutor(WRITES_IN_FLIGHT, thread_name_prefix="alflow-bulk-write") as pool:
        pending: deque[Future] = deque()
        for part in _parts(updates):
            if len(pending) == WRITES_IN_FLIGHT:
                matched += _finished(pending.popleft(), on_chunk)
            pending.append(pool.submit(_send, collection, part))
        while pending:
            matched += _finished(pending.popleft(), on_chunk)
    return matched


def _parts(updates: Iterable[tuple]) -> Iterator[list[tuple]]:
    part: list[tuple] = []
    covered = 0
    for update in updates:
        part.append(update)
        covered += update[1]
        if covered >= PART:
            yield part
            part, covered = [], 0
    if part:
        yield part


def _send(collection, part: list[tuple]) -> tuple[int, int]:
    """One unordered ``update`` command: plain documents, which the C encoder takes as they are
    (``bulk_write``'s operation objects cost about 30 microseconds each in Python, more than
    MongoDB's own work on a whole new label)."""
    reply = collection.database.command(
        "update", collection.name, updates=[op for op, _ in part], ordered=False
    )
    if reply.get("writeErrors"):
        errors = reply["writeErrors"]
        raise DatasetError(
            f"{plural(len(errors), 'update')} of {collection.name!r} failed "
            f"({errors[0].get('errmsg', errors[0])}); run the step again"
        )
    return int(reply["n"]), sum(n for _, n in part)


def _finished(future: Future, on_chunk: Advance) -> int:
    matched, covered = future.result()
    if on_chunk is not None:
        on_chunk(covered)
    return matched
