"""Versioned state: today's alflow loads and continues what alflow 0.1.0 wrote, checkpoints
record the versions that wrote them, and another scikit-learn's checkpoint is refused."""

from __future__ import annotations

from pathlib import Path

import joblib
import pytest

from alflow.errors import LedgerError
from alflow.learning import learners
from alflow.state import versions

FIXTURE = Path(__file__).parents[1] / "fixtures" / "state_v1"
LOOP = "fixture-v1"


def test_another_scikit_learn_version_is_refused_naming_both(tmp_path):
    path = tmp_path / "ckpt.joblib"
    joblib.dump({"model": 1}, path)
    written = {**versions.environment(), "scikit-learn": "1.5.2"}
    here = versions.environment()["scikit-learn"]
    with pytest.raises(LedgerError, match=rf"scikit-learn 1\.5\.2, but .* scikit-learn {here}"):
        learners.load_checkpoint(path, None, written)


def test_an_unrecorded_checkpoint_of_another_scikit_learn_is_refused_too(tmp_path):
    from sklearn.linear_model import LogisticRegression

    path = tmp_path / "old.joblib"
    state = LogisticRegression().__getstate__()
    state["_sklearn_version"] = "0.24.2"  # what an old scikit-learn writes into the pickle
    joblib.dump(_Pickled(state), path)
    with pytest.raises(LedgerError, match=r"scikit-learn 0\.24\.2, but this environment has"):
        learners.load_checkpoint(path)


class _Pickled:
    """Pickles as a LogisticRegression whose state says an old scikit-learn wrote it."""

    def __init__(self, state):
        self.state = state

    def __reduce__(self):
        from sklearn.linear_model import LogisticRegression

        return (LogisticRegression, (), self.state)


def test_a_newer_configuration_is_refused_and_says_to_upgrade():
    with pytest.raises(LedgerError, match="schema version 2, newer than .* upgrade alflow"):
        versions.upgrade("loop configuration", {"schema_version": 2}, "loop 'x'")


def test_older_records_are_upgraded_step_by_step(monkeypatch):
    monkeypatch.setitem(versions.CURRENT, "CVAT reference", 3)
    monkeypatch.setitem(
        versions.UPGRADES,
        "CVAT reference",
        {1: lambda r: {**r, "a": 1}, 2: lambda r: {**r, "b": r["a"] + 1}},
    )
    assert versions.upgrade("CVAT reference", {"version": 1}, "round r") == {
        "version": 3,
        "a": 1,
        "b": 2,
    }
    monkeypatch.setitem(versions.UPGRADES, "CVAT reference", {1: lambda r: r})
    with pytest.raises(LedgerError, match="no upgrade of the CVAT reference from schema version 2"):
        versions.upgrade("CVAT reference", {"version": 1}, "round r")


def test_every_schema_before_the_current_one_has_an_upgrade():
    for kind, current in versions.CURRENT.items():
        assert set(range(1, current)) <= set(versions.UPGRADES[kind])
