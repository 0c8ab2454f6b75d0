"""Checkpoints written before alflow's modules were split still load, predict, teach and query:
every class and function they pickle is importable at the path it was saved under."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import joblib
import numpy as np
import pytest
from bson import json_util

from alflow import strategies
from alflow.learning import learners
from alflow.learning.probability_svc import ProbabilitySVC
from alflow.learning.semi_supervised import SemiSupervisedClassifier
from alflow.state import versions

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


MODULE_PATHS = Path(__file__).parents[1] / "fixtures" / "state_v2"
MODULE_PATH_CASES = json.loads((MODULE_PATHS / "checkpoints.json").read_text())


def test_the_module_paths_fixture_pickles_the_paths_of_before_the_packages():
    names = {n for case in MODULE_PATH_CASES.values() for n in case["pickled_alflow_names"]}
    assert {"alflow.learners", "alflow.svc", "alflow.semi_supervised"} <= names
    for case in MODULE_PATH_CASES.values():
        for name in case["pickled_alflow_names"]:
            assert name == "alflow.strategies" or name in versions.MOVED_MODULES


@pytest.mark.parametrize("name", ["svc-margin.joblib", "forest-committee.joblib"])
def test_a_checkpoint_pickled_at_the_old_module_paths_loads_and_continues(name):
    path = MODULE_PATHS / name
    state = learners.load_checkpoint(path, MODULE_PATH_CASES[name]["sha256"])
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 16, size=(40, 64)).astype(np.float32)
    predicted, _ = learners.predict(state, X)
    learners.teach(state, X[:5], predicted[:5], [f"new-{i}" for i in range(5)])
    picked, _ = state.learner.query(X[5:], n_instances=3, random_state=1)
    assert len(set(np.ravel(picked))) == 3
    if name.startswith("svc"):
        assert type(state.learner.estimator) is ProbabilitySVC


def test_a_semi_supervised_estimator_pickled_at_its_old_path_unpickles_as_todays_class():
    with versions.moved_module_paths():
        estimator = joblib.load(MODULE_PATHS / "label-spreading-estimator.joblib")
    assert type(estimator) is SemiSupervisedClassifier


def test_the_old_module_paths_resolve_only_while_a_checkpoint_loads():
    with versions.moved_module_paths():
        assert importlib.import_module("alflow.svc").ProbabilitySVC is ProbabilitySVC
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("alflow.svc")
