"""A round's Label Studio reference: the batch it may be made from, what it holds, its checks.

The reference (a JSON-able dict) names the server, the loop's project, the round's export id
(written into every task, so an interrupted export finds its own tasks again) and, in batch
order, the sample ids, task ids and predicted labels.
"""

from __future__ import annotations

import mimetypes
import secrets
from collections import Counter
from pathlib import Path
from typing import Any

from alflow.backends.base import Batch, Reference
from alflow.backends.label_studio.credentials import ENV_URL, clean_url
from alflow.errors import BackendError, preview_ids
from alflow.state import versions

REF_VERSION = versions.LS_REF_VERSION


def project_title(loop: str) -> str:
    """The loop's Label Studio project: ``alflow-<loop>``, as in CVAT."""
    from alflow.config import naming

    return naming.cvat_project_name(loop)


def check_batch(batch: Batch) -> None:
    """Refuse a batch Label Studio cannot show, before anything is created there.

    Raises:
        BackendError: empty batch, no classes, repeated sample ids, missing or non-image files.
    """
    where = f"loop {batch.loop!r} round {batch.round_number}"
    if not batch.items:
        raise BackendError(f"{where}: the batch is empty; nothing to annotate")
    if not batch.classes:
        raise BackendError(f"{where}: the batch has no classes for annotators to choose from")
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
    # Label Studio's upload refuses files without an image extension it knows
    odd = [
        item.sample_id
        for item in batch.items
        if not (mimetypes.guess_type(item.filepath)[0] or "").startswith("image/")
    ]
    if odd:
        raise BackendError(
            f"{where}: {len(odd)} samples' files have no image extension (samples "
            f"{preview_ids(odd)}); give them their format's extension (.png, .jpg, ...)"
        )


def new_reference(batch: Batch, url: str, project: Any) -> Reference:
    """The reference of a new export (task ids follow once the tasks exist)."""
    return {
        "kind": "label_studio",
        "version": REF_VERSION,
        "url": url,
        "loop": batch.loop,
        "round": batch.round_number,
        "project_id": project.id,
        "project_title": project.title,
        "task_url": f"{url}/projects/{project.id}/data",
        "export_id": secrets.token_hex(8),
        "classes": list(batch.classes),
        "sample_ids": batch.sample_ids,
        "predicted": {item.sample_id: item.predicted for item in batch.items},
    }


def require(ref: Reference, *keys: str) -> None:
    missing = [key for key in keys if key not in ref]
    if missing:
        raise BackendError(
            f"the round's Label Studio reference lacks {', '.join(missing)}: its export did not "
            "finish; run the export again to complete it"
        )


def check_same_batch(ref: Reference, batch: Batch) -> None:
    if sorted(ref.get("sample_ids") or ()) != sorted(batch.sample_ids):
        raise BackendError(
            f"Label Studio project {ref.get('project_id')} holds a different batch for round "
            f"{batch.round_number} of loop {batch.loop!r}: re-export with force_new=True"
        )


def check_server(ref: Reference, url: str) -> None:
    """Refuse to look for a round's tasks on another server than the one they went to, or a
    reference of a newer schema than this alflow reads."""
    versions.upgrade("Label Studio reference", ref, f"round {ref.get('round')}")
    if ref.get("url") and clean_url(ref["url"], "the round's reference") != url:
        raise BackendError(
            f"round {ref.get('round')} of loop {ref.get('loop')!r} was exported to Label Studio "
            f"at {ref['url']}, but the backend now points at {url}: set backend.url or {ENV_URL} "
            "back to that server"
        )
