"""An image's detection answer from the boxes it was shown and the boxes an annotator left."""

from __future__ import annotations

import pytest

from alflow.backends.box_answers import box_answer

SHOWN = [((0.1, 0.1, 0.4, 0.4), "cat"), ((0.6, 0.6, 0.3, 0.3), "dog")]


def test_every_box_is_named_with_the_backend_s_provenance_and_its_own_record():
    corrected = [
        ((0.1, 0.1, 0.4, 0.4), "cat"),  # untouched
        ((0.6, 0.6, 0.3, 0.3), "fox"),  # the dog is a fox
        ((0.0, 0.7, 0.2, 0.2), "cat"),  # missed
    ]
    answer = box_answer(
        "s1", SHOWN, corrected, {"via": "x"}, per_box=[{"n": 0}, {"n": 1}, {"n": 2}]
    )
    assert answer.sample_id == "s1" and answer.label is None
    assert answer.provenance == {"via": "x", "changed": True} and answer.deleted == ()
    assert [(b.label, b.provenance) for b in answer.boxes] == [
        ("cat", {"via": "x", "change": "kept", "predicted": "cat", "n": 0}),
        ("fox", {"via": "x", "change": "relabelled", "predicted": "dog", "n": 1}),
        ("cat", {"via": "x", "change": "added", "predicted": None, "n": 2}),
    ]


def test_a_box_moved_past_the_match_overlap_is_a_deletion_and_an_addition():
    moved = [((0.3, 0.3, 0.4, 0.4), "cat")]  # IoU with the shown cat: 0.04 / 0.28
    answer = box_answer("s1", SHOWN[:1], moved, {}, match_iou=0.5)
    assert [b.provenance["change"] for b in answer.boxes] == ["added"]
    assert [(d["change"], d["predicted"]) for d in answer.deleted] == [("deleted", "cat")]
    assert answer.deleted[0]["box"] == pytest.approx([0.1, 0.1, 0.4, 0.4])
    nearer = box_answer("s1", SHOWN[:1], moved, {}, match_iou=0.1)
    assert [b.provenance["change"] for b in nearer.boxes] == ["moved"]


def test_an_image_shown_nothing_and_left_empty_is_an_answer_of_no_objects():
    answer = box_answer("s1", [], [], {"via": "x"})
    assert answer.boxes == () and answer.deleted == ()
    assert answer.provenance["changed"] is False
