"""A detection round through the CVAT backend and the stand-in: pre-filled rectangles out,
an annotator's moved, relabelled, deleted and drawn boxes back with their provenance."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from alflow.backends.base import DETECTION, Batch, BatchItem, BoxGuess
from alflow.errors import BackendError

from .fakes import Refs

CLASSES = ("1", "3", "5", "8")
SIZES = [(200, 100), (64, 64), (64, 64), (64, 64)]  # segment size 2: jobs (0, 1) and (2, 3)
GUESSES = [
    (BoxGuess((0.1, 0.2, 0.3, 0.4), "3", 0.9), BoxGuess((0.6, 0.6, 0.2, 0.2), "5", 0.6)),
    (BoxGuess((0.0, 0.0, 0.5, 0.5), "8", 0.7),),
    (),
    None,  # no learner's guess: the frame starts empty
]


@pytest.fixture
def batch(tmp_path) -> Batch:
    items = []
    for i, (size, boxes) in enumerate(zip(SIZES, GUESSES, strict=True)):
        path = Path(tmp_path) / f"img{i}.png"
        Image.new("RGB", size, (40 * i, 80, 160)).save(path)
        items.append(BatchItem(f"s{i}", str(path), boxes=boxes, size=size))
    return Batch("boxes", 1, tuple(items), CLASSES, task=DETECTION)


@pytest.fixture
def exported(backend, batch):
    return backend.export(batch, Refs())


def _complete(annotator, ref):
    annotator.complete(ref["task_id"])


def test_the_predicted_boxes_are_pre_filled_as_rectangles_in_pixels(annotator, exported):
    shapes = annotator.shapes(exported["task_id"])
    assert [(frame, label, kind, source) for _, frame, label, kind, _, source in shapes] == [
        (0, "3", "rectangle", "auto"),
        (0, "5", "rectangle", "auto"),
        (1, "8", "rectangle", "auto"),
    ]
    points = [pts for *_, pts, _ in shapes]
    assert points[0] == pytest.approx([20, 20, 80, 60])  # 0.1..0.4 of 200 px, 0.2..0.6 of 100
    assert points[1] == pytest.approx([120, 60, 160, 80])
    assert points[2] == pytest.approx([0, 0, 32, 32])
    assert exported["sizes"] == [list(size) for size in SIZES]


def test_an_untouched_round_collects_every_pre_filled_box_as_kept(backend, annotator, exported):
    _complete(annotator, exported)
    collected = backend.collect(exported)
    answers = {a.sample_id: a for a in collected.answers}
    assert sorted(answers) == ["s0", "s1", "s2", "s3"] and not collected.unresolved
    assert [b.provenance["change"] for b in answers["s0"].boxes] == ["kept", "kept"]
    assert answers["s0"].boxes[0].box == pytest.approx((0.1, 0.2, 0.3, 0.4))
    assert answers["s2"].boxes == () and answers["s3"].boxes == ()


def test_moved_relabelled_deleted_and_drawn_boxes_come_back_with_their_provenance(
    backend, annotator, exported
):
    task_id = exported["task_id"]
    first, second, third = annotator.shapes(task_id)
    annotator.edit_shape(task_id, first[0], points=[24, 20, 84, 60])  # moved right by 4 px
    annotator.edit_shape(task_id, second[0], label="8")  # the '5' is an '8'
    annotator.erase(task_id, third[0])  # frame 1's '8' is no object
    annotator.draw(task_id, 3, "1", [16, 16, 48, 48])  # a missed '1' on the empty frame
    _complete(annotator, exported)
    answers = {a.sample_id: a for a in backend.collect(exported).answers}

    s0 = answers["s0"]
    assert [(b.label, b.provenance["change"], b.provenance["predicted"]) for b in s0.boxes] == [
        ("3", "moved", "3"),
        ("8", "relabelled", "5"),
    ]
    assert s0.boxes[0].box == pytest.approx((0.12, 0.2, 0.3, 0.4))
    assert s0.boxes[0].provenance["cvat_source"] == "manual"
    assert s0.provenance["cvat_task_id"] == task_id and s0.label is None
    assert answers["s1"].boxes == ()
    assert [(d["change"], d["predicted"]) for d in answers["s1"].deleted] == [("deleted", "8")]
    assert answers["s1"].deleted[0]["box"] == pytest.approx([0.0, 0.0, 0.5, 0.5])
    (drawn,) = answers["s3"].boxes
    assert (drawn.label, drawn.provenance["change"], drawn.provenance["predicted"]) == (
        "1",
        "added",
        None,
    )
    assert drawn.box == pytest.approx((0.25, 0.25, 0.5, 0.5))


def test_a_polygon_or_a_track_sends_only_the_frames_it_is_on_back_to_the_pool(
    backend, annotator, exported
):
    task_id = exported["task_id"]
    annotator.draw(task_id, 2, "5", [1, 1, 30, 1, 30, 30], kind="polygon")
    annotator.track(task_id, 0, "1", [2, 2, 20, 20])  # never ends: on frames 0 and 1
    _complete(annotator, exported)
    collected = backend.collect(exported)
    reasons = {u.sample_id: u.reason for u in collected.unresolved}
    assert sorted(reasons) == ["s0", "s1", "s2"]
    assert "job" in reasons["s2"] and "frame 2 (sample s2) has polygon shapes" in reasons["s2"]
    assert "frame 0 (sample s0) has a track" in reasons["s0"]
    assert "frame 1 (sample s1) has a track" in reasons["s1"]
    assert [a.sample_id for a in collected.answers] == ["s3"]


def test_a_box_of_a_class_the_loop_lacks_follows_the_unknown_labels_rule(
    make_backend, annotator, exported
):
    task_id = exported["task_id"]
    annotator.add_label(exported["project_id"], "7")
    annotator.draw(task_id, 2, "7", [4, 4, 20, 20])
    _complete(annotator, exported)
    with pytest.raises(BackendError, match=r"frame 2 \(sample s2\).*'7'.*unknown_labels"):
        make_backend().collect(exported)
    answers = {
        a.sample_id: a for a in make_backend(unknown_labels="new_class").collect(exported).answers
    }
    assert [(b.label, b.provenance["change"]) for b in answers["s2"].boxes] == [("7", "added")]


def test_a_partial_collect_takes_the_finished_job_and_leaves_the_other_pending(
    backend, annotator, exported
):
    annotator.complete(exported["task_id"], jobs=[0])
    collected = backend.collect(exported, partial=True)
    assert sorted(a.sample_id for a in collected.answers) == ["s0", "s1"]
    assert sorted(collected.pending) == ["s2", "s3"]


def test_a_detection_batch_without_image_sizes_is_refused_before_cvat_sees_it(
    cvat_server, backend, batch
):
    items = (batch.items[0].__class__(**{**batch.items[0].__dict__, "size": None}),)
    with pytest.raises(BackendError, match=r"no image size \(samples s0\).*compute_metadata"):
        backend.export(Batch("boxes", 1, items, CLASSES, task=DETECTION), Refs())
    assert cvat_server.count() == 0


def test_exporting_again_reuses_the_task_and_never_pre_fills_twice(backend, annotator, batch):
    refs = Refs()
    ref = backend.export(batch, refs)
    again = backend.export(batch, refs, ref=ref)
    assert again["task_id"] == ref["task_id"]
    assert len(annotator.shapes(ref["task_id"])) == 3
