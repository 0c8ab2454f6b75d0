"""Concurrent loop creation on one dataset: schema changes are serialised, nothing is lost."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading
import time
import warnings

import tasks
from alflow import rounds
from alflow.config import naming
from alflow.data import store
from alflow.loop.workspace import open_workspace
from alflow.state import locks
from tests.helpers import loop_config, unique_name


def _create(config, start: float) -> None:
    """One creation, as a separate process would run it (its own FiftyOne dataset object)."""
    while time.time() < start:
        time.sleep(0.005)
    tasks.register_loop.fn(config)
    tasks.load_features.fn(config.name)
    tasks.fit_initial_learner.fn(config.name)


def test_three_concurrent_creations_on_one_dataset_all_succeed_with_every_label(digits):
    """Forked, so the three processes start at once without importing FiftyOne three times;
    each works on its own copy of the dataset object, as separate commands do."""
    dataset = digits.clone(unique_name("concurrent"))
    configs = [loop_config(unique_name("cc"), dataset=dataset.name) for _ in range(3)]
    start = time.time() + 1
    fork = multiprocessing.get_context("fork")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymongo: a client opened before fork (it resets it)
        processes = [fork.Process(target=_create, args=(c, start)) for c in configs]
        for p in processes:
            p.start()
    for p in processes:
        p.join(timeout=300)
    assert [p.exitcode for p in processes] == [0, 0, 0]
    ws = open_workspace()
    dataset.reload()
    schema = dataset.get_field_schema()
    for config in configs:
        assert ws.ledger.loop(config.name)["status"] == "active"
        # the simulated annotator writes no review surface (only the in-App review does)
        written = set(naming.loop_fields(config.name)) - set(
            naming.review_surface_fields(config.name)
        )
        assert written <= set(schema)
        assert len(rounds.labelled(dataset, config.name)) == 10
        split = dataset.count_values(naming.split_field(config.name))
        assert split == {"eval": 359, "pool": len(dataset) - 359}
        assert ws.ledger.round(config.name, 0)["metrics"]["labelled"] == 10


def test_the_schema_lock_admits_one_holder_at_a_time(digits, fo_db):
    inside, overlaps = [], []

    def change():
        with locks.dataset_schema(fo_db, digits):
            inside.append(1)
            overlaps.append(len(inside))
            time.sleep(0.05)
            inside.pop()

    threads = [threading.Thread(target=change) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == [1, 1, 1, 1]


def test_a_field_added_by_another_process_is_seen(digits):
    field = f"al_{unique_name('other').replace('-', '_')}"
    script = (
        f"import alflow, fiftyone as fo; d = fo.load_dataset({digits.name!r}); "
        f"d.add_sample_field({field!r}, fo.StringField)"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
    assert store.has_fields(digits, [field])
