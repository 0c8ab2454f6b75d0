"""Shared builders for tests that need a loop on the digits dataset (or a CVAT backend)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from typing import Any

from alflow.config.loop import LoopConfig
from alflow.demo import data as demo_data

_counter = itertools.count()

# tiny retry waits and upload polling for a CVAT backend, so a test never sleeps for long
CVAT_FAST = {"backoff_seconds": 0.01, "backoff_max_seconds": 0.05, "poll_seconds": 0.01}


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}-{next(_counter)}"


def loop_config(name: str | None = None, **overrides: Any) -> LoopConfig:
    """A small, fast loop on the digits data (LR on standardised pixels, oracle annotator)."""
    data = {
        "name": name or unique_name(),
        "dataset": demo_data.DATASET,
        "features": {"fields": [demo_data.FEATURE_FIELD], "standardize": True},
        "initial_labels": {"kind": "field", "field": demo_data.SEED_FIELD},
        "ground_truth_field": demo_data.GROUND_TRUTH,
        "estimator": {"kind": "logistic_regression", "max_iter": 300},
        # margin: deterministic top-k, so tests can reason about which samples a round picks
        "strategy": {"name": "margin"},
        "batch_size": 10,
        "eval_fraction": 0.2,
        "random_state": 0,
    }
    data.update(overrides)
    return LoopConfig.model_validate(data)


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """``alflow ARGS`` in a subprocess, its output captured (a limit for a loaded machine)."""
    return subprocess.run(
        [sys.executable, "-m", "alflow.cli", *args],
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class FakeServe:
    """Stands in for prefect.serve, which would block serving forever."""

    def __init__(self) -> None:
        self.served: list[str] = []

    def __call__(self, *deployments) -> None:
        self.served = sorted(f"{d.flow_name}/{d.name}" for d in deployments)


SECRET_URLS = [
    "http://user:secret@cvat.example.com",
    "https://token-secret@cvat.example.com:8080/api",
    "user:secret@cvat.example.com",
]


def cvat_config(url: str, name: str | None = None) -> dict:
    data = loop_config(name).model_dump(mode="json")
    data["backend"] = {"kind": "cvat", "url": url}
    return data
