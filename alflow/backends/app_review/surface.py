"""The in-App review surface on a FiftyOne dataset: round field, review field, saved view.

This is the FiftyOne side of :mod:`alflow.backends.app_review.backend` (which holds the rules). It
writes only names the loop owns (:mod:`alflow.config.naming`): the round field, the review field
and its label schema, and the round's saved view; never the label field, a ground-truth field or
a tag. The round field (``al_<slug>_round``, the round's number on its batch) is a display aid
for the App's sidebar, not a tag, so reviewers neither mistake it for a class tag nor untick it
in the tag pop-up; the batch itself is the ledger's ``sample_ids``, which nothing here replaces.

After a round is ingested its round numbers, review values and saved view stay as the record of
what was reviewed (the label field holds what was learned); a cancelled round's are removed;
``alflow loop delete`` removes all of them, and the round tags (``al:<loop>:round-NNN``) that
rounds shown before the round field existed put on their batches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from alflow.backends.app_review.backend import Marks
from alflow.backends.base import DETECTION, Batch, BoxGuess, Reference
from alflow.config import naming
from alflow.data import bulk_writes, store
from alflow.services.connections import db, fiftyone
from alflow.state import locks


def _label_schema(dataset, field: str, classes: Sequence[str]) -> None:
    """Offer ``classes`` for ``field`` in the App's annotation panel (FiftyOne >= 1.22)."""
    schema = dataset.generate_label_schemas(field, scan_samples=False)
    schema["classes"] = sorted(classes)
    schema["component"] = "dropdown" if len(classes) > 8 else "radio"
    dataset.update_label_schema(field, schema)
    if field not in dataset.active_label_schemas:
        dataset.activate_label_schemas(field)


def _ensure_detections_field(dataset, field: str) -> None:
    """Declare ``field`` as the round's ``Detections`` review field if it is new."""
    fo = fiftyone()
    if field not in dataset.get_field_schema():
        with locks.dataset_schema(db(), dataset):
            if field not in dataset.get_field_schema():
                dataset.add_sample_field(
                    field, fo.EmbeddedDocumentField, embedded_doc_type=fo.Detections
                )


def _holds_detections(dataset, field: str) -> bool:
    fo = fiftyone()
    return getattr(dataset.get_field(field), "document_type", None) is fo.Detections


def _detections(boxes: Sequence[BoxGuess] | None):
    """The predicted boxes as the reviewer's ``Detections`` (empty before the first learner)."""
    fo = fiftyone()
    return fo.Detections(
        detections=[
            fo.Detection(label=b.label, bounding_box=list(b.box), confidence=b.confidence)
            for b in boxes or ()
        ]
    )


def _gone(sample_ids: Sequence[str], found: Sequence[str]) -> dict[str, Marks]:
    return {sid: Marks((), None, exists=False) for sid in set(sample_ids) - set(found)}


class DatasetReviewSurface:
    """The review surface of one loop on its dataset."""

    def __init__(self, dataset_opener: Callable[[], Any], loop: str) -> None:
        self._open = dataset_opener
        self._loop = loop

    def show(self, batch: Batch) -> dict[str, Any]:
        dataset = self._open()
        field = naming.review_field(self._loop)
        round_field = naming.round_field(self._loop)
        view_name = naming.round_name(self._loop, batch.round_number)
        ids = batch.sample_ids
        if batch.task == DETECTION:
            _ensure_detections_field(dataset, field)
            values = {i.sample_id: _detections(i.boxes) for i in batch.items}
        else:
            store.ensure_classification_field(dataset, field, {})
            values = {
                i.sample_id: (
                    store.classification(i.predicted, i.confidence)
                    if i.predicted is not None
                    else None
                )
                for i in batch.items
            }
        store.write_classifications(dataset, field, values)
        _label_schema(dataset, field, batch.classes)
        bulk_writes.write_ints(dataset, round_field, dict.fromkeys(ids, batch.round_number))
        # the view selects the ledger's ids in query order (not the round field, a display aid);
        # a small batch: FiftyOne's ordered select is quadratic only in the batch size
        dataset.save_view(view_name, dataset.select(ids, ordered=True), overwrite=True)
        return {"round_field": round_field, "view": view_name, "review_field": field}

    def read(self, sample_ids: Sequence[str]) -> dict[str, Marks]:
        dataset = self._open()
        field = naming.review_field(self._loop)
        has_field = field in dataset.get_field_schema()
        if has_field and _holds_detections(dataset, field):
            return self._read_boxes(dataset, field, sample_ids)
        paths = ["id", "tags", *([f"{field}.label"] if has_field else [])]
        found = dataset.select(list(sample_ids)).values(paths)
        reviews = found[2] if has_field else [None] * len(found[0])
        return {
            sid: Marks(tuple(tags or ()), review)
            for sid, tags, review in zip(found[0], found[1], reviews, strict=True)
        } | _gone(sample_ids, found[0])

    @staticmethod
    def _read_boxes(dataset, field: str, sample_ids: Sequence[str]) -> dict[str, Marks]:
        detections = f"{field}.detections"
        paths = ["id", "tags", f"{field}._cls", f"{detections}.bounding_box", f"{detections}.label"]
        ids, tags, kinds, boxes, labels = dataset.select(list(sample_ids)).values(paths)
        marks = {}
        for sid, sample_tags, kind, sample_boxes, sample_labels in zip(
            ids, tags, kinds, boxes, labels, strict=True
        ):
            pairs = None
            if kind is not None:  # a Detections, maybe emptied (its list then reads None)
                pairs = tuple(
                    (tuple(box or ()), label)
                    for box, label in zip(sample_boxes or (), sample_labels or (), strict=True)
                )
            marks[sid] = Marks(tuple(sample_tags or ()), None, boxes=pairs)
        return marks | _gone(sample_ids, ids)

    def withdraw(self, ref: Reference) -> None:
        dataset = self._open()
        ids = list(ref.get("sample_ids", []))
        if ref.get("tag"):  # shown before the round field existed
            dataset.select(ids).untag_samples(ref["tag"])
        round_field = ref.get("round_field")
        if round_field and store.has_fields(dataset, [round_field]):
            bulk_writes.clear_where(dataset, round_field, ids, ref["round"])
        field = ref.get("review_field")
        if field and field in dataset.get_field_schema():
            store.write_classifications(dataset, field, dict.fromkeys(ids))
        if ref.get("view") and dataset.has_saved_view(ref["view"]):
            dataset.delete_saved_view(ref["view"])


def clear_loop(dataset, loop: str) -> dict[str, list[str]]:
    """Remove the loop's round views, its review label schema and the round tags of rounds
    shown before the round field existed (the loop's fields are deleted with the loop's)."""
    prefix = naming.round_tag_prefix(loop)
    tags = [t for t in dataset.distinct("tags") if t.startswith(prefix)]
    if tags:
        dataset.untag_samples(tags)
    views = [v for v in dataset.list_saved_views() if naming.is_round_view(loop, v)]
    for name in views:
        dataset.delete_saved_view(name)
    field = naming.review_field(loop)
    if field in dataset.label_schemas:
        dataset.delete_label_schemas(field)
    return {"tags": tags, "views": views}
