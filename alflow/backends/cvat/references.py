"""A round's CVAT reference: the batch it may be made from, what it holds, how it is checked.

The reference (a JSON-able dict) names the server, project, task, jobs and, by frame index, the
sample ids and predicted labels.
"""

from __future__ import annotations

import mimetypes
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alflow.backends.base import DETECTION, Batch, Reference
from alflow.backends.cvat.credentials import ENV_URL, clean_url
from alflow.errors import BackendError, preview_ids
from alflow.state import versions

REF_VERSION = versions.REF_VERSION  # written into every reference, checked when one is read
MAX_LABEL_LENGTH = 64  # CVAT's Label.name is a 64-character field


def check_label_names(classes: Sequence[str], where: str) -> None:
    """Refuse class names CVAT cannot store as label names (it would cut them short)."""
    long = [c for c in classes if len(c) > MAX_LABEL_LENGTH]
    if long:
        raise BackendError(
            f"{where}: CVAT label names have at most {MAX_LABEL_LENGTH} characters, but "
            f"{len(long)} classes are longer ({preview_ids(long)}); rename those classes"
        )


def check_batch(batch: Batch) -> None:
    """Refuse a batch CVAT cannot take, before anything is created there.

    Raises:
        BackendError: empty batch, no classes, repeated sample ids or missing image files.
    """
    where = f"loop {batch.loop!r} round {batch.round_number}"
    if not batch.items:
        raise BackendError(f"{where}: the batch is empty; nothing to annotate")
    if not batch.classes:
        raise BackendError(f"{where}: the batch has no classes for annotators to choose from")
    check_label_names(batch.classes, where)
    repeated = sorted(sid for sid, n in Counter(batch.sample_ids).items() if n > 1)
    if repeated:
        raise BackendError(
            f"{where}: sample ids appear twice in the batch: {preview_ids(repeated)}"
        )
    missing = [item.filepath for item in batch.items if not Path(item.filepath).is_file()]
    if missing:
        raise BackendError(
            f"{where}: {len(missing)} image files do not exist: {preview_ids(missing)}; "
            "check the dataset's filepaths"
        )
    sizeless = [i.sample_id for i in batch.items if batch.task == DETECTION and not i.size]
    if sizeless:
        raise BackendError(
            f"{where}: {len(sizeless)} samples of a detection batch have no image size (samples "
            f"{preview_ids(sizeless)}); CVAT places boxes in pixels: compute the dataset's "
            "metadata (dataset.compute_metadata())"
        )
    # CVAT tells images from other files by their extension; others would be left out
    odd = [
        item.sample_id
        for item in batch.items
        if not (mimetypes.guess_type(item.filepath)[0] or "").startswith("image/")
    ]
    if odd:
        raise BackendError(
            f"{where}: {len(odd)} samples' files have no image extension CVAT recognises "
            f"(samples {preview_ids(odd)}); give them their format's extension (.png, .jpg, ...)"
        )


def new_reference(batch: Batch, url: str, project: Any, task: Any) -> Reference:
    """The reference of a freshly created task (frames and jobs follow once known)."""
    return {
        "kind": "cvat",
        "version": REF_VERSION,
        "url": url,
        "loop": batch.loop,
        "round": batch.round_number,
        "project_id": project.id,
        "project_name": project.name,
        "task_id": task.id,
        "task_name": task.name,
        "classes": list(batch.classes),
        "sample_ids": batch.sample_ids,  # upload order; frames (below) is the task's order
    }


def require(ref: Reference, *keys: str) -> None:
    missing = [key for key in keys if key not in ref]
    if missing:
        raise BackendError(
            f"the round's CVAT reference lacks {', '.join(missing)}: its export did not finish; "
            "run the export again to complete it"
        )


def check_same_batch(ref: Reference, batch: Batch) -> None:
    known = ref.get("sample_ids") or ref.get("frames")
    if known is not None and sorted(known) != sorted(batch.sample_ids):
        raise BackendError(
            f"CVAT task {ref['task_id']} holds a different batch than round "
            f"{batch.round_number} of loop {batch.loop!r}: re-export with force_new=True"
        )


def check_server(ref: Reference, url: str) -> None:
    """Refuse to look for a round's task on another server than the one it went to, or
    a reference of a newer schema than this alflow reads."""
    versions.upgrade("CVAT reference", ref, f"round {ref.get('task_name')}")
    if ref.get("url") and clean_url(ref["url"]) != url:
        raise BackendError(
            f"round {ref.get('task_name')} was exported to CVAT at {ref['url']}, but the "
            f"backend now points at {url}: set backend.url or {ENV_URL} back to that server"
        )
