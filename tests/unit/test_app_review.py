"""The in-App review's rules, on an in-memory surface (no database)."""

from __future__ import annotations

import pytest

from alflow.backends.app_review.backend import AppReviewBackend, Marks, resolve_marks
from alflow.backends.base import Batch, BatchItem
from alflow.errors import LabelError

CLASSES = ("cat", "dog", "fox")


class MemorySurface:
    """A review surface held in dicts: what the App would show and what a reviewer left."""

    def __init__(self) -> None:
        self.marks: dict[str, Marks] = {}
        self.shown: list[int] = []
        self.withdrawn: list[int] = []

    def show(self, batch: Batch) -> dict:
        self.shown.append(batch.round_number)
        for item in batch.items:
            self.marks[item.sample_id] = Marks((), item.predicted)
        return {"tag": f"al:t:round-{batch.round_number:03d}", "view": "t-round-001"}

    def read(self, sample_ids):
        return {sid: self.marks[sid] for sid in sample_ids if sid in self.marks}

    def withdraw(self, ref) -> None:
        self.withdrawn.append(ref["round"])


def batch(predicted=("cat", "dog", "fox", "cat")) -> Batch:
    items = tuple(BatchItem(f"s{i}", f"/img/{i}.png", p, 0.5) for i, p in enumerate(predicted))
    return Batch("t", 1, items, CLASSES)


def exported(surface: MemorySurface, b: Batch | None = None) -> tuple[AppReviewBackend, dict]:
    backend = AppReviewBackend(surface)
    saved: list[dict] = []
    ref = backend.export(b or batch(), saved.append)
    assert saved == [ref]
    return backend, ref


def finish(ref: dict) -> dict:
    return {**ref, "review_finished": {"at": "now", "by": "test"}}


def test_nothing_counts_until_the_review_is_declared_finished():
    surface = MemorySurface()
    backend, ref = exported(surface)
    assert (backend.progress(ref).done, backend.progress(ref).finished) == (0, False)
    with pytest.raises(LabelError, match="review of round 1 is not finished.*review finish"):
        backend.collect(ref)
    done = finish(ref)
    assert backend.progress(done).finished
    collected = backend.collect(done)
    assert [(a.sample_id, a.label, a.provenance["changed"]) for a in collected.answers] == [
        ("s0", "cat", False),
        ("s1", "dog", False),
        ("s2", "fox", False),
        ("s3", "cat", False),
    ]
    assert all(a.provenance["via"] == "accepted" for a in collected.answers)


def test_tags_and_edits_are_corrections_and_disagreement_is_unresolved():
    surface = MemorySurface()
    backend, ref = exported(surface)
    surface.marks["s0"] = Marks(("dog", "blurry"), "cat")  # corrected by tag; 'blurry' ignored
    surface.marks["s1"] = Marks((), "fox")  # corrected by editing the review label
    surface.marks["s2"] = Marks(("cat", "dog"), "fox")  # two class tags
    surface.marks["s3"] = Marks(("dog",), "fox")  # tag and edit disagree
    collected = backend.collect(finish(ref))
    got = {
        a.sample_id: (a.label, a.provenance["via"], a.provenance["changed"])
        for a in collected.answers
    }
    assert got == {"s0": ("dog", "tag", True), "s1": ("fox", "review_field", True)}
    reasons = {u.sample_id: u.reason for u in collected.unresolved}
    assert set(reasons) == {"s2", "s3"}
    assert "2 class tags (cat, dog)" in reasons["s2"]
    assert "tag 'dog' and review label 'fox' disagree" in reasons["s3"]


def test_a_tag_that_agrees_with_an_edit_is_one_answer():
    surface = MemorySurface()
    backend, ref = exported(surface)
    surface.marks["s0"] = Marks(("fox",), "fox")
    (first, *_) = backend.collect(finish(ref)).answers
    assert (first.sample_id, first.label, first.provenance["via"]) == ("s0", "fox", "tag")


def test_partial_takes_only_marked_samples_and_leaves_the_rest_pending():
    surface = MemorySurface()
    backend, ref = exported(surface)
    surface.marks["s1"] = Marks(("fox",), "dog")
    surface.marks["s2"] = Marks((), None)  # review label removed: skipped
    collected = backend.collect(ref, partial=True)
    assert [a.sample_id for a in collected.answers] == ["s1"]
    assert [u.sample_id for u in collected.unresolved] == ["s2"]
    assert "review label removed" in collected.unresolved[0].reason
    assert collected.pending == ("s0", "s3")


def test_an_unknown_review_label_follows_the_loop_rule():
    surface = MemorySurface()
    _, ref = exported(surface)
    surface.marks["s0"] = Marks((), "wolf")
    marks = surface.read(ref["sample_ids"])
    with pytest.raises(LabelError, match="'wolf' on round 1 sample s0.*unknown_labels='new_class'"):
        resolve_marks(ref, marks, finished=True)
    collected = resolve_marks(ref, marks, finished=True, unknown_labels="new_class")
    assert ("s0", "wolf") in [(a.sample_id, a.label) for a in collected.answers]


def test_a_tag_naming_no_class_is_never_a_correction():
    surface = MemorySurface()
    backend, ref = exported(surface)
    surface.marks["s0"] = Marks(("wolf",), "cat")
    (first, *_) = backend.collect(finish(ref)).answers
    assert (first.label, first.provenance["via"]) == ("cat", "accepted")


def test_deleted_samples_and_cold_start_samples_without_a_label_are_unresolved():
    surface = MemorySurface()
    backend, ref = exported(surface, batch(predicted=(None, None, None)))
    del surface.marks["s0"]
    surface.marks["s1"] = Marks(("dog",), None)
    collected = backend.collect(finish(ref))
    assert [(a.sample_id, a.label, a.provenance["changed"]) for a in collected.answers] == [
        ("s1", "dog", True)
    ]
    reasons = {u.sample_id: u.reason for u in collected.unresolved}
    assert "deleted from the dataset" in reasons["s0"]
    assert "no label given" in reasons["s2"]


def test_export_is_reused_unless_forced_and_cancel_withdraws():
    surface = MemorySurface()
    backend, ref = exported(surface)
    assert backend.export(batch(), lambda r: None, ref=ref) is ref
    assert surface.shown == [1]
    backend.export(batch(), lambda r: None, ref=ref, force_new=True)
    assert surface.shown == [1, 1]
    backend.cancel(ref)
    assert surface.withdrawn == [1]


def test_an_interrupted_export_is_shown_again():
    surface = MemorySurface()
    backend = AppReviewBackend(surface)
    half = {"kind": "app", "round": 1}  # a reference saved before the surface was complete
    ref = backend.export(batch(), lambda r: None, ref=half)
    assert ref["shown"] and surface.shown == [1]
