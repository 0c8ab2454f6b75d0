"""Shared fixtures (registered by ``pytest_plugins`` in tests/conftest.py): a small detection
dataset, digits pasted on canvases as the detection demo builds them, and loop configurations
over it, for the detection round tests and the crash matrix."""

from __future__ import annotations

import pytest

from alflow.config.loop import LoopConfig
from tests.helpers import unique_name

INITIAL = "initial_boxes"


@pytest.fixture(scope="session")
def digit_boxes(fo_db, state_home):
    """160 canvases with ground-truth boxes, proposals and a thumbnail feature; 20 of them
    carry their ground truth in ``initial_boxes`` as the loop's first labels."""
    from alflow.demo.detection_data import build_detection_dataset

    dataset = build_detection_dataset(
        n=160, name="alflow-test-digit-boxes", directory=state_home / "digit-boxes"
    )
    if INITIAL not in dataset.get_field_schema():
        first = dataset.limit(20)
        first.set_values(INITIAL, first.values("ground_truth"))
    return dataset


@pytest.fixture(scope="session")
def boxes_config(digit_boxes):
    """A factory of detection loop configurations over ``digit_boxes`` (oracle, margin)."""
    return lambda **overrides: detection_config(digit_boxes, **overrides)


def detection_config(dataset, **overrides) -> LoopConfig:
    data = {
        "name": unique_name("boxes"),
        "dataset": dataset.name,
        "task": "detection",
        "detection": {"proposals": {"field": "proposals"}},
        "features": {"fields": ["thumbnail"]},
        "initial_labels": {"kind": "field", "field": INITIAL},
        "ground_truth_field": "ground_truth",
        "strategy": {"name": "margin"},
        "batch_size": 10,
        "eval_fraction": 0.25,
        "random_state": 0,
        **overrides,
    }
    return LoopConfig.model_validate(data)
