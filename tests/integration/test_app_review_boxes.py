"""The in-App review of a detection round on a real FiftyOne dataset: the review field is a
``Detections`` copy of the predictions with the loop's classes in its label schema, and what a
reviewer does to its boxes comes back as answers with per-box provenance."""

from __future__ import annotations

import fiftyone as fo
import pytest
from PIL import Image

from alflow.backends.app_review.backend import AppReviewBackend
from alflow.backends.app_review.surface import DatasetReviewSurface, clear_loop
from alflow.backends.base import DETECTION, Batch, BatchItem, BoxGuess
from alflow.config import naming
from alflow.errors import LabelError
from tests.helpers import unique_name

CLASSES = ("1", "3", "5", "8")
GUESSES = [
    (BoxGuess((0.1, 0.2, 0.3, 0.4), "3", 0.9), BoxGuess((0.6, 0.6, 0.2, 0.2), "5", 0.6)),
    (BoxGuess((0.0, 0.0, 0.5, 0.5), "8", 0.7),),
    None,  # no learner yet: nothing pre-filled
]


@pytest.fixture
def review(fo_db, tmp_path):
    """A three-image dataset, its loop's review backend and the round exported to it."""
    name = unique_name("boxes")
    dataset = fo.Dataset(name)
    samples = []
    for i in range(len(GUESSES)):
        path = tmp_path / f"img{i}.png"
        Image.new("RGB", (64, 64), (40 * i, 80, 160)).save(path)
        samples.append(fo.Sample(filepath=str(path)))
    ids = dataset.add_samples(samples)
    items = tuple(
        BatchItem(sid, s.filepath, boxes=boxes, size=(64, 64))
        for sid, s, boxes in zip(ids, samples, GUESSES, strict=True)
    )
    backend = AppReviewBackend(DatasetReviewSurface(lambda: dataset, name))
    saved: list[dict] = []
    ref = backend.export(Batch(name, 1, items, CLASSES, task=DETECTION), saved.append)
    yield dataset, backend, ref, ids
    dataset.delete()


def _finished(ref):
    return {**ref, "review_finished": {"at": "now", "by": "test"}}


def _edit(dataset, ref, sid, change):
    sample = dataset[sid]
    detections = sample[ref["review_field"]]
    change(detections)
    sample[ref["review_field"]] = detections
    sample.save()


def _draw(dataset, ref, sid, label, box):
    """A reviewer draws a box (a new list: FiftyOne saves a list it sees replaced)."""
    new = fo.Detection(label=label, bounding_box=box)
    _edit(dataset, ref, sid, lambda d: setattr(d, "detections", [*d.detections, new]))


def test_the_review_field_is_a_detections_copy_of_the_predictions_with_the_loop_s_classes(
    review,
):
    dataset, _, ref, ids = review
    field = naming.review_field(dataset.name)
    assert ref["review_field"] == field
    assert dataset.get_field(field).document_type is fo.Detections
    shown = dataset[ids[0]][field].detections
    assert [(d.label, d.bounding_box, d.confidence) for d in shown] == [
        ("3", pytest.approx([0.1, 0.2, 0.3, 0.4]), pytest.approx(0.9)),
        ("5", pytest.approx([0.6, 0.6, 0.2, 0.2]), pytest.approx(0.6)),
    ]
    assert dataset[ids[2]][field].detections == []
    schema = dataset.label_schemas[field]
    assert schema["type"] == "detections" and schema["classes"] == sorted(CLASSES)
    assert field in dataset.active_label_schemas
    assert len(dataset.load_saved_view(ref["view"])) == 3


def test_moved_relabelled_deleted_and_drawn_boxes_come_back_with_their_provenance(review):
    dataset, backend, ref, ids = review

    def correct_first(detections):
        detections.detections[0].bounding_box = [0.12, 0.2, 0.3, 0.4]  # moved
        detections.detections[1].label = "8"  # the '5' is an '8'

    _edit(dataset, ref, ids[0], correct_first)
    _edit(dataset, ref, ids[1], lambda d: setattr(d, "detections", []))  # no object after all
    _draw(dataset, ref, ids[2], "1", [0.25, 0.25, 0.5, 0.5])
    collected = backend.collect(_finished(ref))
    answers = {a.sample_id: a for a in collected.answers}
    assert sorted(answers) == sorted(ids) and not collected.unresolved

    first = answers[ids[0]]
    assert first.label is None and first.provenance == {"via": "review_field", "changed": True}
    assert [(b.label, b.provenance["change"], b.provenance["predicted"]) for b in first.boxes] == [
        ("3", "moved", "3"),
        ("8", "relabelled", "5"),
    ]
    assert first.boxes[0].box == pytest.approx((0.12, 0.2, 0.3, 0.4))
    assert answers[ids[1]].boxes == ()
    assert [(d["change"], d["predicted"]) for d in answers[ids[1]].deleted] == [("deleted", "8")]
    (drawn,) = answers[ids[2]].boxes
    assert (drawn.label, drawn.provenance["change"], drawn.provenance["predicted"]) == (
        "1",
        "added",
        None,
    )


def test_before_the_review_is_finished_only_changed_images_are_taken(review):
    dataset, backend, ref, ids = review
    with pytest.raises(LabelError, match="review of round 1 is not finished"):
        backend.collect(ref)
    _edit(dataset, ref, ids[1], lambda d: setattr(d, "detections", []))
    collected = backend.collect(ref, partial=True)
    assert [a.sample_id for a in collected.answers] == [ids[1]]
    assert sorted(collected.pending) == sorted([ids[0], ids[2]])
    untouched = {a.sample_id: a for a in backend.collect(_finished(ref)).answers}[ids[0]]
    assert [b.provenance["change"] for b in untouched.boxes] == ["kept", "kept"]


def test_class_tags_are_not_read_and_a_removed_field_or_a_bad_box_is_unresolved(review):
    dataset, backend, ref, ids = review
    dataset.select(ids[0]).tag_samples("8")  # tag review is classification's
    sample = dataset[ids[1]]
    sample[ref["review_field"]] = None
    sample.save()
    _draw(dataset, ref, ids[2], "1", [0.8, 0.8, 0.5, 0.5])
    collected = backend.collect(_finished(ref))
    assert [b.label for b in collected.answers[0].boxes] == ["3", "5"]
    reasons = {u.sample_id: u.reason for u in collected.unresolved}
    assert "review field was removed" in reasons[ids[1]] and f"sample {ids[1]}" in reasons[ids[1]]
    assert "box 0 is [0.8, 0.8, 0.5, 0.5]" in reasons[ids[2]]


def test_a_box_of_a_class_the_loop_lacks_follows_the_unknown_labels_rule(review):
    dataset, backend, ref, ids = review
    _draw(dataset, ref, ids[2], "7", [0.1, 0.1, 0.2, 0.2])
    with pytest.raises(LabelError, match=rf"sample {ids[2]}.*'7'.*unknown_labels='new_class'"):
        backend.collect(_finished(ref))
    lenient = AppReviewBackend(DatasetReviewSurface(lambda: dataset, dataset.name), "new_class")
    answers = {a.sample_id: a for a in lenient.collect(_finished(ref)).answers}
    assert [(b.label, b.provenance["change"]) for b in answers[ids[2]].boxes] == [("7", "added")]


def test_cancelling_takes_the_boxes_off_and_deleting_the_loop_its_label_schema(review):
    dataset, backend, ref, _ = review
    backend.cancel(ref)
    assert dataset.values(ref["review_field"]) == [None, None, None]
    assert not dataset.has_saved_view(ref["view"])
    clear_loop(dataset, dataset.name)
    assert ref["review_field"] not in dataset.label_schemas


def test_a_classification_review_on_the_same_surface_still_reads_labels_and_tags(fo_db, tmp_path):
    name = unique_name("labels")
    dataset = fo.Dataset(name)
    try:
        paths = [tmp_path / f"c{i}.png" for i in range(3)]
        for path in paths:
            Image.new("RGB", (8, 8)).save(path)
        ids = dataset.add_samples([fo.Sample(filepath=str(p)) for p in paths])
        items = tuple(BatchItem(sid, str(p), "3", 0.5) for sid, p in zip(ids, paths, strict=True))
        backend = AppReviewBackend(DatasetReviewSurface(lambda: dataset, name))
        ref = backend.export(Batch(name, 1, items, CLASSES), lambda _: None)
        assert dataset.get_field(ref["review_field"]).document_type is fo.Classification
        sample = dataset[ids[0]]
        sample[ref["review_field"]].label = "5"
        sample.save()
        dataset.select(ids[1]).tag_samples("8")
        dataset.delete_samples(ids[2])
        collected = backend.collect(_finished(ref))
        assert {a.sample_id: a.label for a in collected.answers} == {ids[0]: "5", ids[1]: "8"}
        assert [u.sample_id for u in collected.unresolved] == [ids[2]]
    finally:
        dataset.delete()
