"""The demos' configurations: the digits loop the classification demo runs through Prefect, and
the detection demo's loop (its box learner and image scoring)."""

from __future__ import annotations

from alflow.config.detection import DetectionConfig, ProposalConfig
from alflow.config.estimators import EstimatorConfig, RandomForestConfig
from alflow.config.loop import LoopConfig
from alflow.demo import data as demo_data
from alflow.demo import detection_data

DEMO_LOOP = "digits-demo"
DETECTION_LOOP = "digit-boxes-demo"


def demo_config(batch: int) -> LoopConfig:
    """The classification demo's loop on the digits dataset."""
    return LoopConfig(
        name=DEMO_LOOP,
        dataset=demo_data.DATASET,
        # the label-efficiency benchmark's best: label spreading on the raw pixels (they share
        # one scale) with diverse_margin, 43 labels to 95 % where RandomForest needs 131
        features={"fields": [demo_data.FEATURE_FIELD], "standardize": False},
        initial_labels={"kind": "field", "field": demo_data.SEED_FIELD},
        ground_truth_field=demo_data.GROUND_TRUTH,
        estimator={"kind": "label_spreading"},
        strategy={"name": "diverse_margin"},
        batch_size=batch,
        eval_fraction=0.2,
        # no stop rule: the demo runs its rounds, and the loop stays active for the README's
        # next commands ('alflow step digits-demo', the deployments)
        random_state=0,
    )


def detection_demo_config() -> DetectionConfig:
    """The detection demo's scoring: proposals from the classical proposer's field, crop
    features, margin per box summed per image (benchmarks/detection_efficiency.py compares
    the aggregations)."""
    return DetectionConfig(
        proposals=ProposalConfig(field=detection_data.PROPOSALS),
        measure="margin",
        aggregation="sum",
    )


def detection_demo_estimator() -> EstimatorConfig:
    """The box classifier of the detection demo."""
    return RandomForestConfig(n_estimators=100)


def detection_loop_config(batch: int) -> LoopConfig:
    """The detection demo's loop: boxes queried by margin summed per image, answered by the
    ground truth, scored by FiftyOne's mAP on a fifth of the canvases held out."""
    return LoopConfig(
        name=DETECTION_LOOP,
        dataset=detection_data.DATASET,
        task="detection",
        detection=detection_demo_config(),
        features={"fields": [detection_data.IMAGE_FEATURES]},
        initial_labels={"kind": "field", "field": detection_data.INITIAL},
        ground_truth_field=detection_data.GROUND_TRUTH,
        estimator=detection_demo_estimator(),
        strategy={"name": "margin"},
        batch_size=batch,
        eval_fraction=0.2,
        random_state=0,
    )
