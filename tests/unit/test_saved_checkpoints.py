"""Checkpoints written before alflow's modules were split still load, predict, teach and query:
every class and function they pickle is importable at the path it was saved under."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from bson import json_util

from alflow import learners, strategies

FIXTURE = Path(__file__).parents[1] / "fixtures" / "state_v1"
CHECKPOINTS = sorted(FIXTURE.glob("round-*.joblib"))


def recorded_sha256(path: Path) -> str:
    """The hash the fixture's ledger recorded for the checkpoint at ``path``."""
    dump = json_util.loads((FIXTURE / "ledger.json").read_text())
    (sha256,) = [
        d["checkpoint"]["sha256"]
        for d in dump["rounds"]
        if (d.get("checkpoint") or {}).get("path") == path.name
    ]
    return sha256


def test_the_fixture_was_written_before_the_split():
    assert json.loads((FIXTURE / "written_by.json").read_text())["alflow"] == "0.1.0"
    assert [p.name for p in CHECKPOINTS] == ["round-000.joblib", "round-001.joblib"]


@pytest.mark.parametrize("path", CHECKPOINTS, ids=lambda p: p.stem)
def test_a_saved_checkpoint_loads_and_continues_without_a_database(path):
    state = learners.load_checkpoint(path, recorded_sha256(path))
    assert isinstance(state, learners.LearnerState)
    assert state.learner.query_strategy is strategies.margin_sampling  # the pickled path
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 16, size=(30, state.learner.estimator.n_features_in_))
    predicted, confidence = learners.predict(state, X)
    assert set(predicted) <= set(state.classes) and ((confidence > 0) & (confidence <= 1)).all()
    n = state.n_labels
    learners.teach(state, X[:5], predicted[:5], [f"new-{i}" for i in range(5)])
    assert state.n_labels == n + 5
    picked, _ = state.learner.query(X[5:], n_instances=3, random_state=1)
    assert len(set(np.ravel(picked))) == 3
