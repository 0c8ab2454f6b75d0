"""The App's operators with the CVAT backend, against the loopback CVAT stand-in."""

from __future__ import annotations

import pytest

from alflow.config import naming
from alflow.loop.workspace import open_workspace
from tests.app.operators import execute, form_params
from tests.helpers import CVAT_FAST, unique_name

pytestmark = pytest.mark.usefixtures("prefect_server", "plugin_dir")


def test_query_links_the_cvat_task_and_update_takes_the_finished_jobs(
    digits, cvat_server, cvat_env, annotator
):
    loop = unique_name("app-cvat")
    params = form_params(loop)
    params["batch_size"] = 8
    params["backend"] = {"kind": "cvat", "url": cvat_server.url, "segment_size": 4, **CVAT_FAST}
    created = execute("create_learner", digits, **params).result
    assert "error" not in created, created
    queried = execute("query_learner", digits, loop=loop).result
    ref = open_workspace().ledger.round(loop, 1)["backend"]["ref"]
    task_url = f"{cvat_server.url.rstrip('/')}/tasks/{ref['task_id']}"
    assert queried["task_url"] == task_url
    assert any(task_url in line for line in queried["lines"])
    assert queried["view"] is None  # CVAT rounds are not put on the App's review surface

    waiting = execute("update_learner_predictions", digits, loop=loop).result
    assert waiting["round"]["state"] == "waiting"  # nothing finished: the round waits
    annotator.complete(ref["task_id"], jobs=[0])
    taken = execute(
        "update_learner_predictions", digits, loop=loop, when_unfinished="accept_partial"
    ).result
    assert taken["round"]["state"] == "taught"
    doc = open_workspace().ledger.round(loop, 1)
    assert sorted(doc["ingest"]["answered"]) == sorted(ref["frames"][:4])
    assert sorted(doc["ingest"]["pending"]) == sorted(ref["frames"][4:])
    # CVAT rounds are not put on the App's review surface: no round number, no round tag
    assert naming.round_field(loop) not in digits.get_field_schema()
    prefix = naming.round_tag_prefix(loop)
    assert not [t for t in digits.count_sample_tags() if t.startswith(prefix)]
