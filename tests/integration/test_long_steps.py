"""Long steps on the real database: chunked feature reads and their progress reports."""

from __future__ import annotations

import fiftyone as fo
import numpy as np
import pytest

import tasks
from alflow import progress
from alflow.data import store
from alflow.demo import data as demo_data
from alflow.errors import DatasetError
from alflow.loop.workspace import open_workspace
from tests.helpers import loop_config, unique_name


@pytest.fixture
def plain_now(monkeypatch):
    """Plain progress lines from the first unit on (no delay), as off a terminal."""
    monkeypatch.setenv("ALFLOW_PROGRESS", "plain")
    monkeypatch.setattr(progress, "DELAY", 0.0)


def test_chunked_reads_keep_ids_and_values_paired(digits):
    chunks = list(store.iter_columns(digits, [demo_data.FEATURE_FIELD, "ground_truth.label"], 500))
    assert [len(ids) for ids, _ in chunks] == [500, 500, 500, 297]
    truth = dict(zip(digits.values("id"), digits.values("ground_truth.label"), strict=True))
    vectors = dict(zip(digits.values("id"), digits.values(demo_data.FEATURE_FIELD), strict=True))
    for ids, columns in chunks:
        assert columns["ground_truth.label"] == [truth[i] for i in ids]
        for sid, vec in zip(ids, columns[demo_data.FEATURE_FIELD], strict=True):
            np.testing.assert_array_equal(vec, vectors[sid])
    assert sorted(i for ids, _ in chunks for i in ids) == sorted(truth)


def test_samples_deleted_during_a_read_are_an_error_not_a_gap(fo_db):
    dataset = fo.Dataset(unique_name("shrinking"))
    dataset.add_samples([fo.Sample(filepath=f"/x/{i}.png", v=float(i)) for i in range(6)])
    chunks = store.iter_columns(dataset, ["v"], chunk=3)
    next(chunks)
    dataset.delete_samples(dataset.skip(4).limit(1))
    with pytest.raises(DatasetError, match=r"changed while its features were read \(6 samples"):
        next(chunks)
    dataset.delete()


def test_feature_load_reports_progress_and_matches_the_dataset(digits, plain_now, capsys):
    config = loop_config(features={"fields": [demo_data.FEATURE_FIELD], "standardize": False})
    fm = open_workspace().features(config, refresh=True)
    err = capsys.readouterr().err
    assert f"loading features of {demo_data.DATASET!r}: done, 1,797 samples in" in err
    ids, vectors = digits.values("id"), digits.values(demo_data.FEATURE_FIELD)
    assert sorted(fm.ids) == sorted(ids)
    np.testing.assert_array_equal(fm.take(ids), np.asarray(vectors, dtype=np.float32))


def test_loop_creation_and_write_back_report_progress(digits, plain_now, capsys):
    config = loop_config()
    tasks.register_loop.fn(config)
    tasks.fit_initial_learner.fn(config.name)
    err = capsys.readouterr().err
    assert f"marking the pool/eval split of {config.name!r}: done, 1,797 samples" in err
    assert f"writing predictions of {config.name!r} round 0: done, 1,797 samples" in err


def test_quick_steps_stay_quiet_off_a_terminal(digits, monkeypatch, capsys):
    monkeypatch.delenv("ALFLOW_PROGRESS", raising=False)
    monkeypatch.setattr(progress, "DELAY", 60.0)
    config = loop_config()
    tasks.register_loop.fn(config)
    assert "marking the pool/eval split" not in capsys.readouterr().err
