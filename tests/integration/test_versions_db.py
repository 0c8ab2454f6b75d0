"""Versioned state: today's alflow loads and continues what alflow 0.1.0 wrote, checkpoints
record the versions that wrote them, and another scikit-learn's checkpoint is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import fiftyone as fo
import pytest
from bson import json_util

import tasks
from alflow.config import naming
from alflow.data import bulk_writes, store
from alflow.learning import learners
from alflow.loop.workspace import open_workspace
from alflow.services.environment import checkpoints_dir
from alflow.state import versions
from tests.fixtures.ids import rename

FIXTURE = Path(__file__).parents[1] / "fixtures" / "state_v1"
LOOP = "fixture-v1"


@pytest.fixture(scope="module")
def restored(digits, fo_db):
    """The fixture's loop restored into this session's ledger and digits dataset.

    Sample ids differ between databases: the dump names samples by file name, and the
    checkpoints' pickled ids are mapped to this dataset's ids before they are taught on.
    """
    dump = json_util.loads((FIXTURE / "ledger.json").read_text())
    ids = {Path(p).name: i for i, p in zip(*digits.values(["id", "filepath"]), strict=True)}
    old_to_new = {old: ids[name] for old, name in dump["checkpoint_ids"].items()}
    for doc in dump["rounds"]:
        ckpt = doc.get("checkpoint")
        if ckpt:
            target = checkpoints_dir(LOOP) / ckpt["path"]
            shutil.copy(FIXTURE / ckpt["path"], target)
            ckpt["path"] = str(target)
    fo_db["alflow_loops"].delete_one({"_id": LOOP})
    fo_db["alflow_rounds"].delete_many({"loop": LOOP})
    fo_db["alflow_loops"].insert_one(rename(dump["loop"], ids))
    fo_db["alflow_rounds"].insert_many(rename(dump["rounds"], ids))
    labels = {
        ids[name]: fo.Classification.from_dict({k: v for k, v in c.items() if k != "_id"})
        for name, c in dump["labels"].items()
    }
    store.write_classifications(digits, naming.label_field(LOOP), labels)
    split = {ids[name]: value for name, value in dump["split"].items()}
    bulk_writes.write_strings(digits, naming.split_field(LOOP), split)
    return old_to_new


def test_a_checkpoint_written_by_alflow_0_1_0_loads(restored):
    doc = open_workspace().ledger.round(LOOP, 1)
    assert "versions" not in doc["checkpoint"]  # written before versions were recorded
    state = learners.load_checkpoint(doc["checkpoint"]["path"], doc["checkpoint"]["sha256"])
    assert state.n_labels == 20 and set(state.training_ids) <= set(restored)
    assert open_workspace().config(LOOP).name == LOOP


def test_the_restored_loop_continues(restored):
    ws = open_workspace()
    for number in (0, 1):  # its pickled ids name samples of another database: map them here
        ckpt = ws.ledger.round(LOOP, number)["checkpoint"]
        state = learners.load_checkpoint(ckpt["path"], ckpt["sha256"])
        state.training_ids = [restored[i] for i in state.training_ids]
        ckpt["sha256"] = learners.save_checkpoint(state, Path(ckpt["path"]))
        ws.ledger.update_round(LOOP, number, checkpoint=ckpt)
    n = tasks.open_round.fn(LOOP)
    assert n == 2
    for step in (tasks.query_batch, tasks.export_batch, tasks.ingest_labels, tasks.teach_learner):
        step.fn(LOOP, n)
    doc = ws.ledger.round(LOOP, n)
    assert doc["state"] == "taught" and doc["metrics"]["labelled"] == 30
    assert doc["checkpoint"]["versions"] == versions.environment()
    assert not set(doc["queried_ids"]) & set(ws.ledger.round(LOOP, 1)["queried_ids"])
