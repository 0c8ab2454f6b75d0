"""FiftyOne access: the only module that reads or writes samples.

Everything here works on sample ids and plain values so the rest of alflow stays testable
without a database. Writes are bulk ``set_values(..., key_field="id")`` calls, FiftyOne's fastest
path, so a round's write-back is one round trip per field however large the pool.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from alflow.errors import DatasetError


def _fo():
    import fiftyone as fo

    return fo


def open_dataset(name: str):
    """Load a FiftyOne dataset by name, or say which datasets exist."""
    fo = _fo()
    if not fo.dataset_exists(name):
        names = fo.list_datasets()
        known = ", ".join(names[:10]) if names else "none"
        raise DatasetError(
            f"FiftyOne dataset {name!r} does not exist (datasets here: {known}); create or "
            "import it first, or fix the loop's 'dataset' (FIFTYONE_DATABASE_DIR="
            f"{fo.config.database_dir})"
        )
    return fo.load_dataset(name)


def require_fields(dataset, fields: Iterable[str], role: str) -> None:
    """Raise DatasetError naming every field of ``fields`` missing from ``dataset``."""
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


def read_values(dataset, path: str, ids: list[str] | None = None) -> list[Any]:
    """Values of ``path`` for ``ids`` (in that order), or for every sample."""
    if ids is None:
        return dataset.values(path)
    view = dataset.select(ids, ordered=True)
    return view.values(path)


def read_labels(dataset, field: str) -> dict[str, str]:
    """``{sample id: label}`` for every sample whose Classification ``field`` is set."""
    view = dataset.exists(field)
    ids = view.values("id")
    labels = view.values(f"{field}.label")
    return {i: str(lab) for i, lab in zip(ids, labels, strict=True) if lab is not None}


def read_tags(dataset) -> dict[str, list[str]]:
    """``{sample id: tags}`` for every sample with at least one tag."""
    ids, tags = dataset.values("id"), dataset.values("tags")
    return {i: list(t) for i, t in zip(ids, tags, strict=True) if t}


def classification(label: str, confidence: float | None = None, **attributes: Any):
    """A FiftyOne Classification carrying provenance attributes."""
    return _fo().Classification(label=label, confidence=confidence, **attributes)


def write_classifications(dataset, field: str, values: Mapping[str, Any]) -> None:
    """Set ``field`` for the given ``{sample id: Classification | None}`` in one bulk write."""
    if values:
        dataset.set_values(field, dict(values), key_field="id")


def write_strings(dataset, field: str, values: Mapping[str, str]) -> None:
    """Set a string ``field`` for ``{sample id: value}`` in one bulk write."""
    if values:
        dataset.set_values(field, dict(values), key_field="id")


def clear_fields(dataset, fields: Iterable[str]) -> list[str]:
    """Delete ``fields`` from the dataset schema where present; return those deleted."""
    schema = dataset.get_field_schema()
    present = [f for f in fields if f in schema]
    if present:
        dataset.delete_sample_fields(present)
    return present


def filepaths(dataset, ids: list[str]) -> list[str]:
    """File paths of ``ids`` in that order."""
    return read_values(dataset, "filepath", ids)


def db():
    """The MongoDB database FiftyOne uses, for alflow's own collections."""
    from fiftyone.core.odm.database import get_db_conn

    return get_db_conn()
