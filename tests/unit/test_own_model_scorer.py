"""The own-model scorer's pure parts: which configurations it takes (one line for the rest),
the query order from logits and from confidences (computed by hand), and its metrics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from alflow.boxes.from_fields import from_classifications
from alflow.config.loop import parse_loop_config
from alflow.config.own_model import ModelPredictionsConfig
from alflow.config.strategy import StrategyConfig
from alflow.errors import ConfigError, LabelError
from alflow.learning.model_predictions import metrics, select

CLASSES = ("cat", "dog", "fox")
IDS = ["s0", "s1", "s2", "s3"]


@dataclass
class Classification:
    label: str
    confidence: float | None = None
    logits: list[float] | None = None


def config(strategy: str = "margin", **scorer) -> dict:
    return {
        "name": "own",
        "dataset": "d",
        "features": {"fields": ["embedding"]},
        "ground_truth_field": "truth",
        "strategy": {"name": strategy},
        "scorer": {"kind": "model_predictions", "field": "resnet", "classes": ["a", "b"], **scorer},
    }


def test_a_loop_scored_by_its_model_needs_no_initial_labels_and_defaults_to_no_job():
    loop = parse_loop_config(config())
    assert isinstance(loop.scorer, ModelPredictionsConfig)
    assert loop.scorer.logits == "logits" and loop.scorer.retrain.kind == "none"
    seeded = {**config(), "initial_labels": {"kind": "field", "field": "seeds"}}
    assert parse_loop_config({**seeded, "scorer": {"kind": "alflow"}}).scorer.kind == "alflow"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (config("vote_entropy"), "strategy 'vote_entropy' needs alflow's own learner"),
        (config("typiclust_margin"), "strategy 'typiclust_margin' needs alflow's own learner"),
        (config("entropy", logits=None), "needs class probabilities, and scorer.logits is None"),
        (
            {**config(), "task": "detection", "detection": {"proposals": {"field": "p"}}},
            "detection.measure 'margin' needs per-box class probabilities",
        ),
        (config(retrain={"kind": "deployment", "name": "no-slash"}), "retrain.deployment.name"),
        (config(retrain={"kind": "entry_point", "target": "nomodule"}), "retrain.entry_point"),
        (config(classes=["one"]), "scorer.model_predictions.classes"),
    ],
)
def test_configurations_it_cannot_run_are_refused_with_one_line(data, message):
    with pytest.raises(ConfigError, match=message) as refused:
        parse_loop_config(data)
    assert "\n" not in str(refused.value)


def _batch(values, strategy: str, n: int = 4) -> list[str]:
    pred = from_classifications("resnet", IDS, values, CLASSES)
    X = np.zeros((len(IDS), 2))
    picked, _ = select(StrategyConfig(name=strategy), pred, X, n, 0)
    return [IDS[i] for i in picked]


def test_logits_give_the_query_order_computed_by_hand():
    values = [
        Classification("cat", 0.67, [2, 1, 0]),  # softmax .665 .245 .090: margin .420, max .665
        Classification("cat", 0.33, [0, 0, 0]),  # a third each: margin 0, max .333
        Classification("cat", 0.99, [5, 0, 0]),  # .987 .007 .007: margin .980, max .987
        Classification("dog", 0.50, [0, 1, 1]),  # .155 .422 .422: margin 0, max .422
    ]
    # margin: s1 and s3 tie at 0 (broken at random), then s0, then s2
    assert _batch(values, "margin")[2:] == ["s0", "s2"]
    assert set(_batch(values, "margin")[:2]) == {"s1", "s3"}
    assert _batch(values, "least_confident") == ["s1", "s3", "s0", "s2"]
    # entropy: uniform, then two equal classes, then .665/.245/.090, then the confident one
    assert _batch(values, "entropy") == ["s1", "s3", "s0", "s2"]


def test_confidences_alone_give_least_confident_order_and_refuse_margin():
    values = [Classification("cat", c) for c in (0.9, 0.4, 0.6, 0.75)]
    assert _batch(values, "least_confident") == ["s1", "s2", "s3", "s0"]
    with pytest.raises(ConfigError, match="carry only confidences"):
        _batch(values, "margin")


def test_some_predictions_with_logits_and_some_without_are_refused():
    values = [Classification("cat", 0.5, [1, 2, 3])] * 3 + [Classification("dog", 0.5)]
    with pytest.raises(LabelError, match="'logits' on 3 of 4 predictions, none on s3"):
        from_classifications("resnet", IDS, values, CLASSES)


def test_metrics_count_a_missing_prediction_as_wrong():
    result = metrics(["a", "a", "b", "b"], ["a", None, "b", "a"])
    assert result["accuracy"] == pytest.approx(0.5)
    # a: precision 1/2, recall 1/2, F1 1/2; b: precision 1, recall 1/2, F1 2/3
    assert result["macro_f1"] == pytest.approx(7 / 12)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module_here:train", "module 'no_such_module_here' cannot be imported"),
        ("json:no_such_function", "module 'json' has no function 'no_such_function'"),
    ],
)
def test_an_entry_point_that_cannot_be_found_is_one_line(target, message):
    from alflow.config.own_model import EntryPointRetrain
    from alflow.rounds.retraining import entry_point

    with pytest.raises(ConfigError, match=message) as refused:
        entry_point(EntryPointRetrain(target=target))
    assert "\n" not in str(refused.value)
    assert entry_point(EntryPointRetrain(target="json:dumps")) is __import__("json").dumps


def detection_config(measure: str, strategy: str | None = None, **scorer) -> dict:
    data = config(strategy or measure, **scorer)
    return {**data, "task": "detection", "detection": {"measure": measure}}


def test_a_detection_loop_with_its_own_detector_needs_no_proposals():
    loop = parse_loop_config(detection_config("margin", probabilities="probs"))
    assert loop.detection.proposals is None and loop.scorer.probabilities == "probs"
    assert parse_loop_config(detection_config("least_confident")).scorer.probabilities is None
    assert parse_loop_config(detection_config("margin", "random")).strategy.name == "random"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (detection_config("margin"), "detection.measure 'margin' needs per-box class prob"),
        (detection_config("entropy"), "choose measure least_confident or one_minus_confidence"),
        (config(probabilities="probs"), "scorer.probabilities names a per-box attribute"),
        (
            {**detection_config("margin"), "scorer": {"kind": "alflow"}},
            "alflow's box learner needs detection.proposals.field",
        ),
    ],
)
def test_detection_scorer_settings_it_cannot_run_are_refused_with_one_line(data, message):
    with pytest.raises(ConfigError, match=message):
        parse_loop_config(data)
