"""A detection loop's box pool kept on disk between steps, refreshed only where images changed.

Every query and every teach needs the features of every proposal of the pool. Computing them
means reading each image file for its crops (or decoding every proposal's embedding), which
made a step of the 600-image demo take seconds and would make a 100k-image round take
minutes. The pool is therefore cached under the state directory, keyed by the dataset's sample
set, the proposals field and the box-feature settings, with a digest of each image's raw
proposals and file path and a freshness mark (:mod:`alflow.data.freshness`): a step re-reads
only the samples modified since the mark, and recomputes the features of the images whose
digest changed (new proposals, a moved box, another file). An image file replaced on disk
under the same path and proposals is not noticed; ``refresh=True`` rebuilds the whole pool.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from alflow.boxes.pool import BoxPool, build_box_pool, raw_paths, read_raw
from alflow.config.detection import DetectionConfig
from alflow.data import features as feats
from alflow.data import freshness, store
from alflow.errors import DatasetError
from alflow.services.environment import cache_dir

FILES = ("ids", "sample", "boxes", "X", "digests")


def cache_directory(dataset, detection: DetectionConfig) -> Path:
    """Where the box pool of ``detection``'s proposals in ``dataset`` is cached."""
    spec = json.dumps(
        [
            dataset.name,
            store.fingerprint(dataset),
            detection.proposals.field,
            detection.box_features.model_dump(mode="json"),
        ],
        sort_keys=True,
    )
    return cache_dir() / f"boxes-{hashlib.blake2b(spec.encode(), digest_size=10).hexdigest()}"


def image_digests(raw: Sequence[tuple], detection: DetectionConfig) -> np.ndarray:
    """A digest per image of what its box features are computed from: each proposal's box
    (and embedding, for kind 'attribute') and the image's file path."""
    attribute = detection.box_features.attribute
    out = []
    for docs, path in raw:
        parts = [
            (d.get("bounding_box"), d.get(attribute) if attribute else None) for d in docs or []
        ]
        blob = pickle.dumps((path, parts), protocol=4)
        out.append(hashlib.blake2b(blob, digest_size=8).hexdigest())
    return np.asarray(out, dtype="U16")


def cached_box_pool(
    dataset, ids: Sequence[str], detection: DetectionConfig, refresh: bool = False
) -> BoxPool:
    """The pool of ``ids`` (in that order), from the cache where its images did not change."""
    directory = cache_directory(dataset, detection)
    with feats.build_lock(directory):
        cached = None if refresh else _load(directory)
        mark = store.newest_modification(dataset)  # before reading: later edits seen later
        if cached is None:
            pool, digests = _read(dataset, list(ids), detection)
        else:
            pool, digests = _refreshed(dataset, ids, detection, directory, *cached)
        if cached is None or pool is not cached[0]:  # an unchanged pool is not written again
            _save(directory, pool, digests)
        freshness.set_mark(directory, mark)
    return reordered(pool, ids)


def _read(dataset, ids: list[str], detection: DetectionConfig) -> tuple[BoxPool, np.ndarray]:
    raw = read_raw(dataset, ids, detection)
    return build_box_pool(ids, raw, detection), image_digests(raw, detection)


def _refreshed(dataset, ids, detection, directory: Path, pool: BoxPool, digests: np.ndarray):
    """The cached pool with the changed and the new images read again."""
    known = dict(zip(pool.ids, digests, strict=True))
    query = freshness.modified_filter(freshness.read_mark(directory))
    touched = set(store.ids_where(dataset, query)) if query is not None else set(known)
    wanted = set(map(str, ids))
    suspects = [sid for sid in ids if sid in touched or sid not in known]
    changed: list[str] = []
    if suspects:
        by_id = store.raw_columns_of(dataset, suspects, raw_paths(detection))
        fresh = dict(zip(by_id, image_digests(list(by_id.values()), detection), strict=True))
        changed = [s for s in suspects if s in fresh and known.get(s) != fresh[s]]
    redo = set(changed)
    keep = [sid for sid in pool.ids if sid in wanted and sid not in redo]
    if not changed and len(keep) == len(pool.ids):
        return pool, digests
    added, added_digests = _read(dataset, changed, detection) if changed else (None, None)
    kept = subset(pool, keep)
    kept_digests = np.asarray([known[s] for s in keep], dtype="U16")
    if added is None:
        return kept, kept_digests
    return concatenated(kept, added), np.concatenate([kept_digests, added_digests])


def subset(pool: BoxPool, ids: Sequence[str]) -> BoxPool:
    """The images ``ids`` of ``pool`` (each must be in it), in that order, with their boxes."""
    position = {sid: i for i, sid in enumerate(pool.ids)}
    old = np.asarray([position[sid] for sid in ids], dtype=np.int64)
    new_of_old = np.full(pool.n_images, -1, dtype=np.int64)
    new_of_old[old] = np.arange(len(old))
    rows = np.flatnonzero(new_of_old[pool.sample] >= 0) if len(pool.sample) else pool.sample
    order = rows[np.argsort(new_of_old[pool.sample[rows]], kind="stable")]
    return BoxPool(
        ids=tuple(ids),
        sample=new_of_old[pool.sample[order]],
        boxes=pool.boxes[order],
        X=pool.X[order] if len(pool.X) else pool.X,
    )


def reordered(pool: BoxPool, ids: Sequence[str]) -> BoxPool:
    """``pool`` in the order of ``ids`` (no copy when it is already in that order)."""
    ids = tuple(map(str, ids))
    return pool if pool.ids == ids else subset(pool, ids)


def concatenated(first: BoxPool, second: BoxPool) -> BoxPool:
    """Two pools of different images as one (the second's images after the first's)."""
    if len(first.X) and len(second.X) and first.X.shape[1] != second.X.shape[1]:
        raise DatasetError(
            f"box features of width {second.X.shape[1]} where the cached pool has "
            f"{first.X.shape[1]}: write one embedding length for every proposal"
        )
    X = [x for x in (first.X, second.X) if len(x)]
    return BoxPool(
        ids=first.ids + second.ids,
        sample=np.concatenate([first.sample, second.sample + first.n_images]),
        boxes=np.concatenate([first.boxes, second.boxes]),
        X=np.concatenate(X) if X else first.X,
    )


def _save(directory: Path, pool: BoxPool, digests: np.ndarray) -> None:
    """Write the pool to a fresh folder, then swap it in whole (under the caller's lock)."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{directory.name}.tmp-", dir=directory.parent))
    arrays = {
        "ids": np.asarray(pool.ids, dtype="U24"),
        "sample": pool.sample,
        "boxes": pool.boxes,
        "X": pool.X,
        "digests": digests,
    }
    for name, array in arrays.items():
        np.save(tmp / f"{name}.npy", array)
    if (directory / freshness.MARK).exists():
        shutil.copy(directory / freshness.MARK, tmp / freshness.MARK)
    old = Path(tempfile.mkdtemp(prefix=f"{directory.name}.old-", dir=directory.parent))
    if directory.exists():
        directory.rename(old / "pool")
    tmp.rename(directory)
    shutil.rmtree(old, ignore_errors=True)


def _load(directory: Path) -> tuple[BoxPool, np.ndarray] | None:
    """The cached pool and digests, or None when there is none (or it is unreadable)."""
    try:
        a = {name: np.load(directory / f"{name}.npy") for name in FILES}
    except (OSError, ValueError):
        return None
    ids = tuple(str(i) for i in a["ids"])
    pool = BoxPool(ids=ids, sample=a["sample"], boxes=a["boxes"], X=a["X"])
    return pool, a["digests"]
