"""Shared builders for tests that need a loop on the digits dataset."""

from __future__ import annotations

import itertools
from typing import Any

from alflow import demo
from alflow.config import LoopConfig

_counter = itertools.count()


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}-{next(_counter)}"


def loop_config(name: str | None = None, **overrides: Any) -> LoopConfig:
    """A small, fast loop on the digits data (LR on standardised pixels, oracle annotator)."""
    data = {
        "name": name or unique_name(),
        "dataset": demo.DATASET,
        "features": {"fields": [demo.FEATURE_FIELD], "standardize": True},
        "initial_labels": {"kind": "field", "field": demo.SEED_FIELD},
        "ground_truth_field": demo.GROUND_TRUTH,
        "estimator": {"kind": "logistic_regression", "max_iter": 300},
        # margin: deterministic top-k, so tests can reason about which samples a round picks
        "strategy": {"name": "margin"},
        "batch_size": 10,
        "eval_fraction": 0.2,
        "random_state": 0,
    }
    data.update(overrides)
    return LoopConfig.model_validate(data)
