"""Per-box geometry, measures, aggregations and matches, against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from alflow.boxes import geometry, matching
from alflow.boxes.image_scores import (
    ImageScores,
    aggregate,
    box_uncertainty,
    class_weights,
    image_scores,
    select_images,
)
from alflow.boxes.predictions import BoxPredictions, from_proba, whole_images
from alflow.config.detection import BACKGROUND, BoxFeatureConfig
from alflow.errors import ConfigError, LabelError, PoolExhaustedError
from alflow.strategies.measures import margin_measure


def test_iou_of_two_quarter_boxes_shifted_by_half_their_side():
    a, b = [[0, 0, 0.5, 0.5]], [[0.25, 0.25, 0.5, 0.5]]
    # intersection 0.25 x 0.25 = 0.0625; union 0.25 + 0.25 - 0.0625 = 0.4375
    assert geometry.iou_matrix(a, b)[0, 0] == pytest.approx(0.0625 / 0.4375)
    assert geometry.iou_matrix(a, [[0.5, 0.5, 0.1, 0.1]])[0, 0] == 0.0


def test_nms_suppresses_overlaps_of_one_class_only():
    boxes = [[0, 0, 0.5, 0.5], [0.05, 0, 0.5, 0.5], [0.05, 0, 0.5, 0.5], [0.5, 0.5, 0.4, 0.4]]
    scores = [0.9, 0.8, 0.8, 0.7]
    labels = ["a", "a", "b", "a"]  # box 1 overlaps box 0 by 0.225 / 0.275 = 0.82
    assert geometry.nms(boxes, scores, labels, iou=0.5).tolist() == [0, 2, 3]
    assert geometry.nms(boxes, scores, labels, iou=0.9).tolist() == [0, 1, 2, 3]


def test_relative_boxes_become_cvat_pixel_corners_and_back():
    assert geometry.to_pixels([0.1, 0.2, 0.3, 0.4], 200, 100) == pytest.approx([20, 20, 80, 60])
    back = geometry.from_pixels([20, 20, 80, 60], 200, 100)
    assert back == pytest.approx([0.1, 0.2, 0.3, 0.4])
    # a corner dragged past the edge is clipped to the image
    assert geometry.from_pixels([-10, 0, 100, 120], 100, 100) == pytest.approx([0, 0, 1, 1])


@pytest.mark.parametrize(
    "box", [[0.9, 0.1, 0.2, 0.2], [-0.1, 0, 0.5, 0.5], [0, 0, 0, 0.5], [np.nan, 0, 0.1, 0.1]]
)
def test_a_box_outside_the_image_is_refused_naming_it(box):
    with pytest.raises(LabelError, match=r"sample s1: box 1 is .* not a relative \[x, y, w, h\]"):
        geometry.as_boxes([[0, 0, 0.5, 0.5], box], "sample s1")


PROBA = np.array([[0.6, 0.4, 0.0], [0.9, 0.05, 0.05], [0.5, 0.5, 0.0], [0.2, 0.1, 0.7]])
CLASSES = ("1", "2", BACKGROUND)


def _four_boxes() -> BoxPredictions:
    boxes = [[0, 0, 0.3, 0.3], [0.5, 0.5, 0.3, 0.3], [0, 0, 0.3, 0.3], [0.6, 0, 0.3, 0.3]]
    return from_proba(np.array([0, 0, 1, 1]), boxes, PROBA, CLASSES, n_samples=3)


def test_per_box_measures_by_hand():
    pred = _four_boxes()
    assert box_uncertainty(pred, "margin") == pytest.approx([0.8, 0.15, 1.0, 0.5])
    assert box_uncertainty(pred, "least_confident") == pytest.approx([0.4, 0.1, 0.5, 0.3])
    h = -(0.6 * np.log(0.6) + 0.4 * np.log(0.4))
    assert box_uncertainty(pred, "entropy")[0] == pytest.approx(h)
    assert box_uncertainty(pred, "one_minus_confidence") == pytest.approx([0.4, 0.1, 0.5, 0.3])


def test_confidence_only_boxes_refuse_measures_that_need_probabilities():
    pred = BoxPredictions(
        sample=np.array([0]),
        boxes=np.array([[0, 0, 0.5, 0.5]]),
        labels=np.array(["1"], dtype=object),
        confidence=np.array([0.7]),
        proba=None,
        classes=("1",),
        n_samples=1,
    )
    assert box_uncertainty(pred, "one_minus_confidence") == pytest.approx([0.3])
    with pytest.raises(ConfigError, match="choose measure 'one_minus_confidence'"):
        box_uncertainty(pred, "margin")


def test_nan_confidences_are_refused():
    with pytest.raises(LabelError, match="NaN or infinite"):
        BoxPredictions(
            sample=np.array([0]),
            boxes=np.array([[0, 0, 0.5, 0.5]]),
            labels=np.array(["1"], dtype=object),
            confidence=np.array([np.nan]),
            proba=None,
            classes=("1",),
            n_samples=1,
        )


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("sum", [0.95, 1.5, 0.0]),
        ("mean", [0.475, 0.75, 0.0]),
        ("max", [0.8, 1.0, 0.0]),
        ("top_k_mean", [0.8, 1.0, 0.0]),  # top_k = 1
    ],
)
def test_aggregations_by_hand(how, expected):
    values = np.array([0.8, 0.15, 1.0, 0.5])
    out = aggregate(values, np.array([0, 0, 1, 1]), 3, how, top_k=1)
    assert out == pytest.approx(expected)


def test_top_k_mean_averages_the_k_most_uncertain_boxes():
    values = np.array([0.1, 0.9, 0.5, 0.7])
    assert aggregate(values, np.zeros(4, dtype=int), 1, "top_k_mean", top_k=2) == pytest.approx(
        [0.8]
    )


def test_overlapping_boxes_of_one_class_count_once():
    boxes = [[0, 0, 0.4, 0.4], [0.01, 0, 0.4, 0.4]]  # one object seen twice
    proba = np.array([[0.7, 0.3, 0.0], [0.6, 0.4, 0.0]])
    pred = from_proba(np.array([0, 0]), boxes, proba, CLASSES, 1)
    scores = image_scores(pred, "margin", "sum", nms_iou=0.5)
    assert scores.scores == pytest.approx([1 - 0.4])  # only the more confident box
    assert image_scores(pred, "margin", "sum", nms_iou=0.99).scores == pytest.approx([0.6 + 0.8])


def test_expected_boxes_count_objects_not_background_or_unsure_ones():
    scores = image_scores(_four_boxes(), min_score=0.55)
    # image 0: '1' at 0.6 and '1' at 0.9; image 1: '1' at 0.5 (< 0.55) and background
    assert scores.expected_boxes.tolist() == [2, 0, 0]


def test_class_balance_weighs_frequent_classes_down():
    labels = np.array(["a", "a", "a", "b", BACKGROUND], dtype=object)
    assert class_weights(labels) == pytest.approx({"a": 4 / (2 * 3), "b": 4 / (2 * 1)})


def test_classification_is_detection_with_one_whole_image_box():
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(4), size=50)
    pred = whole_images(proba, ("a", "b", "c", "d"))
    for how in ("sum", "mean", "max", "top_k_mean"):
        scores = image_scores(pred, "margin", how).scores
        assert scores == pytest.approx(margin_measure(proba))


def test_a_batch_counted_in_boxes_stops_once_the_expected_objects_are_reached():
    scores = ImageScores(np.array([0.5, 0.9, 0.1, 0.7]), np.array([3, 1, 0, 2]))
    pool = np.arange(4)
    assert select_images(scores, pool, 2).tolist() == [1, 3]
    # costs in score order 1, 2, 3: 1 + 2 < 4 <= 1 + 2 + 3
    assert select_images(scores, pool, 4, unit="boxes").tolist() == [1, 3, 0]
    assert select_images(scores, np.array([2, 0]), 5, unit="boxes").tolist() == [0, 2]
    with pytest.raises(PoolExhaustedError, match="pool exhausted"):
        select_images(scores, np.array([], dtype=int), 2)


def test_proposals_learn_the_class_of_the_labelled_box_they_overlap():
    proposals = [[0, 0, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5], [0.02, 0, 0.5, 0.5]]
    labels = matching.proposal_labels(proposals, np.array([[0, 0, 0.5, 0.5]]), ["3"], iou=0.5)
    assert labels.tolist() == ["3", BACKGROUND, "3"]
    assert (
        matching.proposal_labels(proposals, np.zeros((0, 4)), [], 0.5).tolist() == [BACKGROUND] * 3
    )


def test_an_annotators_edits_are_named_box_by_box():
    prefill = np.array(
        [[0, 0, 0.2, 0.2], [0.5, 0.5, 0.2, 0.2], [0.1, 0.6, 0.2, 0.2], [0.7, 0.1, 0.2, 0.2]]
    )
    corrected = np.array(
        [[0, 0, 0.2, 0.2], [0.52, 0.5, 0.2, 0.2], [0.1, 0.6, 0.2, 0.2], [0.4, 0.1, 0.1, 0.1]]
    )
    found = matching.changes(prefill, ["1", "2", "3", "4"], corrected, ["1", "2", "7", "5"])
    assert [(c.change, c.prefill, c.corrected) for c in found] == [
        (matching.KEPT, 0, 0),
        (matching.MOVED, 1, 1),  # overlap 0.036 / 0.044 = 0.82
        (matching.RELABELLED, 2, 2),
        (matching.ADDED, None, 3),
        (matching.DELETED, 3, None),
    ]


def test_box_features_from_an_attribute_need_its_name():
    with pytest.raises(ValueError, match="need the proposals' attribute name"):
        BoxFeatureConfig(kind="attribute")


def _greedy_nms(boxes, scores, labels, iou):
    """Textbook greedy NMS, one class and one image at a time: what nms must equal."""
    keep = []
    for label in set(labels):
        members = sorted(
            (i for i in range(len(boxes)) if labels[i] == label), key=lambda i: (-scores[i], i)
        )
        alive = []
        for i in members:
            if all(geometry.iou_matrix([boxes[i]], [boxes[j]])[0, 0] <= iou for j in alive):
                alive.append(i)
        keep += alive
    return sorted(keep)


def test_grouped_nms_equals_greedy_nms_image_by_image():
    rng = np.random.default_rng(7)
    n = 400
    xy = rng.uniform(0, 0.6, size=(n, 2))
    boxes = np.concatenate([xy, rng.uniform(0.1, 0.4, size=(n, 2))], axis=1)
    scores = rng.choice([0.2, 0.5, 0.9], size=n)  # ties, decided by position
    labels = rng.choice(["a", "b"], size=n)
    groups = rng.integers(0, 40, size=n)
    kept = geometry.nms(boxes, scores, labels, 0.3, groups=groups)
    expected = []
    for g in range(40):
        idx = np.flatnonzero(groups == g)
        local = _greedy_nms(boxes[idx], scores[idx], list(labels[idx]), 0.3)
        expected += idx[local].tolist()
    assert kept.tolist() == sorted(expected)
