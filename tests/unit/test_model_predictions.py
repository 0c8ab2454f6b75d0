"""A team's own predictions (Classification with confidence and logits, Detections with per-box
probabilities) read into per-box predictions: query orders by hand, and bad input refused."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from alflow.boxes.from_fields import from_classifications, from_detections
from alflow.boxes.image_scores import image_scores, select_images
from alflow.errors import LabelError

CLASSES = ("cat", "dog", "fox")
IDS = ["s0", "s1", "s2"]


@dataclass
class Classification:
    """The attributes alflow reads of a FiftyOne Classification."""

    label: str
    confidence: float | None = None
    logits: list[float] | None = None


@dataclass
class Detection:
    label: str
    bounding_box: list[float]
    confidence: float | None = None
    probs: list[float] | None = None


@dataclass
class Detections:
    detections: list[Detection] = field(default_factory=list)


def _order(pred, measure):
    scores = image_scores(pred, measure, "sum")
    return [IDS[i] for i in select_images(scores, np.arange(len(IDS)), 3)]


def test_logits_give_the_margin_order_computed_by_hand():
    values = [
        Classification("cat", 0.67, [2, 1, 0]),  # softmax .665 .245 .090: margin 0.580
        Classification("cat", 0.33, [0, 0, 0]),  # a third each: margin 1.0
        Classification("cat", 0.99, [5, 0, 0]),  # .987 .007 .007: margin 0.020
    ]
    pred = from_classifications("model", IDS, values, CLASSES)
    assert pred.proba[0] == pytest.approx([0.6652, 0.2447, 0.0900], abs=1e-4)
    assert image_scores(pred, "margin").scores == pytest.approx([0.5795, 1.0, 0.0199], abs=1e-4)
    assert _order(pred, "margin") == ["s1", "s0", "s2"]


def test_confidence_only_predictions_are_ordered_by_one_minus_confidence():
    values = [Classification("cat", 0.9), Classification("dog", 0.4), Classification("fox", 0.6)]
    pred = from_classifications("model", IDS, values, CLASSES)
    assert pred.proba is None
    assert _order(pred, "one_minus_confidence") == ["s1", "s2", "s0"]


def test_detections_with_per_box_probabilities_score_their_images():
    values = [
        Detections([Detection("cat", [0, 0, 0.5, 0.5], 0.5, [0.5, 0.5, 0.0])]),
        Detections([]),  # predicted, nothing found
        Detections(
            [
                Detection("dog", [0, 0, 0.4, 0.4], 0.8, [0.1, 0.8, 0.1]),
                Detection("fox", [0.5, 0.5, 0.4, 0.4], 0.7, [0.2, 0.1, 0.7]),
            ]
        ),
    ]
    pred = from_detections("detector", IDS, values, CLASSES, probabilities="probs")
    # margins: 1.0; none; 1 - 0.7 = 0.3 and 1 - 0.5 = 0.5, summed 0.8
    assert image_scores(pred, "margin", "sum").scores == pytest.approx([1.0, 0.0, 0.8])
    no_probs = from_detections("detector", IDS, values, CLASSES)
    assert image_scores(no_probs, "one_minus_confidence", "max").scores == pytest.approx(
        [0.5, 0.0, 0.3]
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([Classification("cat", 0.5), None, None], r"no prediction on 2 sample\(s\) \(s1, s2\)"),
        ([Classification("cat")] * 3, "sample s0 has a prediction without a confidence"),
        ([Classification("cat", 1.5)] * 3, "has confidence 1.5"),
        ([Classification("cat", 0.5, [1, 2])] * 3, "logits of length 2 for 3 classes"),
        ([Classification("cat", 0.5, [1, np.nan, 2])] * 3, "NaN or infinite logits"),
    ],
)
def test_bad_classification_predictions_are_refused_with_one_line(values, message):
    with pytest.raises(LabelError, match=message):
        from_classifications("model", IDS, values, CLASSES)


def test_bad_detections_are_refused_with_one_line():
    outside = [Detections([Detection("cat", [0.8, 0, 0.5, 0.5], 0.5)])] * 3
    with pytest.raises(LabelError, match="not a relative"):
        from_detections("detector", IDS, outside, CLASSES)
    no_attribute = [Detections([Detection("cat", [0, 0, 0.5, 0.5], 0.5)])] * 3
    with pytest.raises(LabelError, match="without its 'probs' attribute"):
        from_detections("detector", IDS, no_attribute, CLASSES, probabilities="probs")
    nan = [Detections([Detection("cat", [0, 0, 0.5, 0.5], float("nan"))])] * 3
    with pytest.raises(LabelError, match="has confidence nan"):
        from_detections("detector", IDS, nan, CLASSES)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([Detections([Detection("cat", [0, 0, 0.5, 0.5], 0.5, [0.5, 0.5])])] * 3, "of length 2"),
        (
            [Detections([Detection("cat", [0, 0, 0.5, 0.5], 0.5, [0.5, np.nan, 0])])] * 3,
            "NaN or infinite 'probs'",
        ),
        (
            [Detections([Detection("cat", [0, 0, 0.5, 0.5], 0.5, [1.5, -0.5, 0])])] * 3,
            "are not probabilities",
        ),
        ([Detections([Detection("cat", [0, 0, 0.5, 0.5], None, [1, 0, 0])])] * 3, "s0 has a"),
    ],
)
def test_bad_box_probabilities_are_refused_with_one_line(values, message):
    with pytest.raises(LabelError, match=message):
        from_detections("detector", IDS, values, CLASSES, probabilities="probs")


def test_a_box_outside_the_image_is_refused_naming_its_sample():
    values = [
        Detections([Detection("cat", [0, 0, 0.5, 0.5], 0.5)]),
        Detections([Detection("cat", [0.1, 0.2, 0.3, 0.3], 0.5)]),
        Detections([Detection("dog", [0.7, 0, 0.5, 0.5], 0.5), Detection("cat", [0, 0, 1, 1], 1)]),
    ]
    with pytest.raises(LabelError, match="field 'detector' of sample s2: box 0 is"):
        from_detections("detector", IDS, values, CLASSES)


def test_placed_boxes_keep_their_scores_at_their_pool_positions():
    values = [Detections([Detection("cat", [0, 0, 0.5, 0.5], 0.4)]), Detections([])]
    pred = from_detections("detector", IDS[:2], values, CLASSES).placed(np.array([3, 1]), 5)
    assert image_scores(pred, "least_confident", "max").scores == pytest.approx([0, 0, 0, 0.6, 0])
