"""FiftyOne access: every read of samples, and the label writes that go through FiftyOne.

Everything here works on sample ids and plain values so the rest of alflow stays testable
without a database. Labels written by users' tools go through FiftyOne's ``set_values`` (it
validates them); alflow's own bulk values (predictions, split markers) go as raw MongoDB bulk
updates of declared fields (:mod:`alflow.data.bulk_writes`), since per-sample validation would
dominate a round on a big pool. Two other modules write to a dataset, each for one reason: the
App review's surface (:mod:`alflow.backends.app_review.surface`) pre-fills a round's review
field and saves its view, which are FiftyOne's own review tools; the demos
(:mod:`alflow.demo.data`, :mod:`alflow.demo.detection_data`) build their datasets.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import numpy as np
from bson import ObjectId

from alflow.data.vectors import decode_vectors
from alflow.errors import DatasetError
from alflow.services.connections import database_in_use, db
from alflow.services.connections import fiftyone as _fo
from alflow.state import locks


def open_dataset(name: str):
    """Load a FiftyOne dataset by name, or say which datasets exist."""
    fo = _fo()
    if not fo.dataset_exists(name):
        names = fo.list_datasets()
        known = ", ".join(names[:10]) if names else "none"
        raise DatasetError(
            f"FiftyOne dataset {name!r} does not exist (datasets here: {known}); create or "
            f"import it first, or fix the loop's 'dataset' (database in use: {database_in_use()})"
        )
    return fo.load_dataset(name)


def has_fields(dataset, fields: Iterable[str]) -> bool:
    """Whether every one of ``fields`` is in the schema; a miss reloads the dataset first.

    FiftyOne keeps one dataset object per process and never refreshes it by itself, so a
    long-lived process (a worker, the App) would not see a field another process added.
    """
    fields = list(fields)
    if set(fields) <= set(dataset.get_field_schema()):
        return True
    dataset.reload()
    return set(fields) <= set(dataset.get_field_schema())


def require_fields(dataset, fields: Iterable[str], role: str) -> None:
    """Raise DatasetError naming every field of ``fields`` missing from ``dataset``."""
    fields = list(fields)
    has_fields(dataset, fields)
    schema = dataset.get_field_schema()
    missing = [f for f in fields if f not in schema]
    if missing:
        raise DatasetError(
            f"dataset {dataset.name!r} has no {role} field {', '.join(map(repr, missing))}; "
            f"fields present: {', '.join(sorted(schema))}. Compute or import it, or fix the "
            "loop configuration"
        )


def sample_ids(dataset) -> np.ndarray:
    """All sample ids, in the dataset's natural order."""
    return np.asarray(dataset.values("id"), dtype=object)


def samples_collection(collection):
    """The raw MongoDB collection of a dataset's (or a view's) samples."""
    root = getattr(collection, "_root_dataset", None) or collection
    return db()[root._sample_collection_name]


def iter_columns(
    dataset, fields: Sequence[str], chunk: int = 10_000
) -> Iterator[tuple[list[str], dict[str, Any]]]:
    """Every sample's id and the values of ``fields``, ``chunk`` samples at a time, in the
    dataset's natural order.

    Chunks let the caller convert each part to float32 at once (memory bounded by the result,
    not by the documents) and report progress. The whole read is one raw MongoDB cursor
    projected on the wanted fields (no id list first, no ``$in`` lookups), and vectors are
    decoded from FiftyOne's stored bytes in one pass per chunk
    (:func:`alflow.data.vectors.decode_vectors`), instead of FiftyOne's ``values()``, which builds
    and decodes every vector one by one (about ten times slower at 512 dimensions).

    Raises:
        DatasetError: samples were added or deleted while the columns were read.
    """
    collection = samples_collection(dataset)
    expected = collection.count_documents({})
    cursor = collection.find({}, dict.fromkeys(fields, 1), batch_size=chunk)
    read = 0
    for rows in _batched(cursor, chunk):
        read += len(rows)
        if read > expected or (len(rows) < chunk and read < expected):
            raise _changed_while_read(dataset, expected, read)
        yield [str(doc["_id"]) for doc in rows], _decoded(rows, fields)
    if read != expected:
        raise _changed_while_read(dataset, expected, read)


def iter_columns_of(
    dataset, ids: Sequence[str], fields: Sequence[str], chunk: int = 10_000
) -> Iterator[tuple[list[str], dict[str, Any]]]:
    """The values of ``fields`` for the samples ``ids`` (in that order), ``chunk`` at a time.

    Raises:
        DatasetError: some of ``ids`` were deleted meanwhile.
    """
    collection = samples_collection(dataset)
    projection = dict.fromkeys(fields, 1)
    for start in range(0, len(ids), chunk):
        part = [str(i) for i in ids[start : start + chunk]]
        docs = {
            str(doc["_id"]): doc
            for doc in collection.find({"_id": {"$in": [ObjectId(i) for i in part]}}, projection)
        }
        if len(docs) != len(part):
            raise _changed_while_read(dataset, len(part), len(docs))
        yield part, _decoded([docs[i] for i in part], fields)


def _decoded(rows: list[Mapping[str, Any]], fields: Sequence[str]) -> dict[str, Any]:
    return {f: decode_vectors([_path(doc, f) for doc in rows]) for f in fields}


def _changed_while_read(dataset, listed: int, found: int) -> DatasetError:
    return DatasetError(
        f"dataset {dataset.name!r} changed while its features were read ({listed} samples "
        f"listed, {found} found); run the step again once edits are done"
    )


def _path(doc: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted ``path`` of a raw document (None where any part is missing)."""
    value: Any = doc
    for key in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def fingerprint(dataset) -> tuple[str, ...]:
    """A cheap identity of the dataset's sample set: count and smallest/largest sample id.

    Adding or deleting samples changes it (new ObjectIds are larger than old ones) without
    reading any document: the count is MongoDB's collection metadata
    (``estimated_document_count``, where ``count_documents`` scans every sample) and the two
    ids come from the ``_id`` index. alflow's own writes (predictions, split, labels) change
    none of the three. Value changes are :mod:`alflow.data.freshness`'s to notice.
    """
    collection = samples_collection(dataset)
    count = collection.estimated_document_count()
    if count == 0:
        return ("0",)
    low = collection.find_one({}, {"_id": 1}, sort=[("_id", 1)])["_id"]
    high = collection.find_one({}, {"_id": 1}, sort=[("_id", -1)])["_id"]
    return (str(count), str(low), str(high))


def existing_ids(dataset, ids: Sequence[str]) -> list[str]:
    """Those of ``ids`` that are still samples of ``dataset`` (one query)."""
    if not ids:
        return []
    collection = samples_collection(dataset)
    found = collection.find({"_id": {"$in": [ObjectId(i) for i in ids]}}, {"_id": 1})
    return [str(doc["_id"]) for doc in found]


def newest_modification(dataset) -> datetime | None:
    """The latest ``last_modified_at`` of the dataset's samples (None if it has none)."""
    collection = samples_collection(dataset)
    doc = collection.find_one(
        {"last_modified_at": {"$ne": None}},
        {"last_modified_at": 1},
        sort=[("last_modified_at", -1)],
    )
    return None if doc is None else doc["last_modified_at"].replace(tzinfo=UTC)


def read_values(dataset, path: str, ids: list[str] | None = None) -> list[Any]:
    """Values of ``path`` for ``ids`` (in that order), or for every sample."""
    if ids is None:
        return dataset.values(path)
    view = dataset.select(ids, ordered=True)
    return view.values(path)


def values_where(dataset, query: dict, path: str) -> tuple[list[str], list[Any]]:
    """Ids and values of ``path`` of the samples matching a raw MongoDB ``query``, in natural
    order: one projected query, where an ordered ``select`` of the same ids costs a quadratic
    ``$indexOfArray`` and nears MongoDB's 16 MB pipeline limit at a million samples."""
    ids, (values,) = columns_where(dataset, query, [path])
    return ids, values


def columns_where(dataset, query: dict, paths: Sequence[str]) -> tuple[list[str], list[list[Any]]]:
    """Ids and the values of each of ``paths`` of the samples matching ``query``, in natural
    order, from one scan (FiftyOne's ``values()`` scans the collection once per path)."""
    docs = list(samples_collection(dataset).find(query, dict.fromkeys(paths, 1)))
    return [str(doc["_id"]) for doc in docs], [[_path(doc, p) for doc in docs] for p in paths]


def raw_columns_of(
    dataset, ids: Sequence[str], paths: Sequence[str], chunk: int = 10_000
) -> dict[str, tuple[Any, ...]]:
    """``{id: (value of each of paths)}`` of the samples ``ids`` that exist, raw (nothing
    decoded), read ``chunk`` ids at a time; missing samples are simply absent."""
    collection = samples_collection(dataset)
    projection = dict.fromkeys(paths, 1)
    found: dict[str, tuple[Any, ...]] = {}
    for start in range(0, len(ids), chunk):
        part = [ObjectId(str(i)) for i in ids[start : start + chunk]]
        for doc in collection.find({"_id": {"$in": part}}, projection):
            found[str(doc["_id"])] = tuple(_path(doc, p) for p in paths)
    return found


def ids_where(dataset, query: dict) -> list[str]:
    """Ids of the samples matching a raw MongoDB ``query`` (on ``last_modified_at``, a split
    field), in natural order."""
    return [str(doc["_id"]) for doc in samples_collection(dataset).find(query, {"_id": 1})]


def read_tags(dataset) -> dict[str, list[str]]:
    """``{sample id: tags}`` for every sample with at least one tag."""
    ids, tags = dataset.values("id"), dataset.values("tags")
    return {i: list(t) for i, t in zip(ids, tags, strict=True) if t}


def classification(label: str, confidence: float | None = None, **attributes: Any):
    """A FiftyOne Classification carrying provenance attributes."""
    return _fo().Classification(label=label, confidence=confidence, **attributes)


def set_excluded(dataset, field: str, ids: list[str], excluded: bool) -> None:
    """Mark labels of ``field`` as excluded from training (a rollback) or included again."""
    if ids:
        dataset.set_values(f"{field}.excluded", dict.fromkeys(ids, excluded), key_field="id")


def write_classifications(dataset, field: str, values: Mapping[str, Any]) -> None:
    """Set ``field`` for the given ``{sample id: Classification | None}`` in one bulk write."""
    write_labels(dataset, field, values)


def write_labels(dataset, field: str, values: Mapping[str, Any]) -> None:
    """Set ``field`` for the given ``{sample id: label | None}`` (any FiftyOne label) in one
    bulk write.

    ``set_values`` may add the field or its attributes to the schema, so it runs under the
    dataset's schema lock.
    """
    if values:
        with locks.dataset_schema(db(), dataset):
            dataset.set_values(field, dict(values), key_field="id")


def _batched(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    iterator = iter(items)
    while part := list(islice(iterator, size)):
        yield part


def ensure_classification_field(dataset, field: str, attributes: Mapping[str, Any]) -> None:
    """Declare ``field`` as a Classification with typed extra ``attributes`` if it is new."""
    fo = _fo()
    if _declared(dataset, field, attributes):
        return
    with locks.dataset_schema(db(), dataset):
        if field not in dataset.get_field_schema():
            dataset.add_sample_field(
                field, fo.EmbeddedDocumentField, embedded_doc_type=fo.Classification
            )
        declared = dataset.get_field(field).get_field_schema()
        for name, kind in attributes.items():
            if name not in declared:
                dataset.add_sample_field(f"{field}.{name}", kind)


def _declared(dataset, field: str, attributes: Mapping[str, Any]) -> bool:
    """Whether ``field`` and its ``attributes`` are in the schema already (no lock needed)."""
    if field not in dataset.get_field_schema():
        return False
    return set(attributes) <= set(dataset.get_field(field).get_field_schema())


def clear_fields(dataset, fields: Iterable[str]) -> list[str]:
    """Delete ``fields`` from the dataset schema where present; return those deleted."""
    with locks.dataset_schema(db(), dataset):
        schema = dataset.get_field_schema()
        present = [f for f in fields if f in schema]
        if present:
            dataset.delete_sample_fields(present)
    return present


def filepaths(dataset, ids: list[str]) -> list[str]:
    """File paths of ``ids`` in that order."""
    return read_values(dataset, "filepath", ids)
