"""The typed step trigger: `alflow step --when-unfinished wait|accept_partial|cancel`.

Each choice is run from the command line (typer's test runner, the real flows under the
session's Prefect test server) on a round that really waits: it is out for annotation in the
CVAT stand-in, 8 samples in two jobs of 4 frames. The same choices are the `options` form of
the `step` deployment, checked through its parameter schema.
"""

from __future__ import annotations

import uuid

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.sorting import ArtifactSort
from prefect.utilities.callables import parameter_schema
from typer.testing import CliRunner

from alflow import rounds
from alflow.cli import app
from alflow.config import naming
from alflow.data import labels as lab
from alflow.loop.workspace import open_workspace
from flows.loop import step_flow
from tasks import fit_initial_learner, register_loop
from tests.helpers import CVAT_FAST, loop_config

pytestmark = pytest.mark.usefixtures("prefect_server")

CHOICES = ["wait", "accept_partial", "cancel"]
runner = CliRunner()


def alflow(*args: str):
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def first_row(output: str) -> list[str]:
    """The first data row of the round table a command printed."""
    lines = output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["round", "state"])
    return lines[header + 1].split()


def pool_ids(loop: str) -> set[str]:
    """The samples the loop's next query may pick."""
    ws = open_workspace()
    config = ws.config(loop)
    dataset = ws.dataset(config)
    fm = ws.features(config)
    mask = lab.pool_mask(
        fm.ids,
        rounds.eval_ids(dataset, loop),
        rounds.labelled(dataset, loop, include_excluded=True),
        rounds.queued_ids(ws, loop),
    )
    return {str(sid) for sid in fm.ids[mask]}


def round_doc(loop: str, number: int) -> dict:
    return open_workspace().ledger.round(loop, number)


@pytest.fixture
def waiting(digits, cvat_server, cvat_env):
    """A CVAT loop whose round 1 is out for annotation (the first `alflow step`)."""
    config = loop_config(
        f"choice-{uuid.uuid4().hex[:8]}",
        batch_size=8,
        backend={"kind": "cvat", "url": cvat_server.url, "segment_size": 4, **CVAT_FAST},
    )
    register_loop.fn(config)
    fit_initial_learner.fn(config.name)
    result = alflow("step", config.name)
    assert result.exit_code == 0, result.output
    doc = round_doc(config.name, 1)
    assert doc["state"] == "waiting"
    return config.name, doc["backend"]["ref"], doc["queried_ids"]


def test_wait_leaves_the_round_waiting(waiting, annotator, cvat_server):
    loop, ref, batch = waiting
    annotator.complete(ref["task_id"], jobs=[0])
    result = alflow("step", loop, "--when-unfinished", "wait")
    assert result.exit_code == 0, result.output
    assert first_row(result.output)[:3] == ["1", "waiting", "8"]

    doc = round_doc(loop, 1)
    assert doc["state"] == "waiting" and "ingest" not in doc
    assert (doc["progress"]["done"], doc["progress"]["total"]) == (1, 2)
    assert open_workspace().ledger.get_round(loop, 2) is None
    assert ref["task_id"] in cvat_server.state.tasks
    assert not set(batch) & pool_ids(loop)  # still out for annotation
    status = alflow("status", loop)
    assert "round 1 is 'waiting': 1/2 annotation jobs finished" in status.output


def test_accept_partial_ingests_the_finished_jobs_and_frees_the_rest(waiting, annotator, digits):
    loop, ref, _ = waiting
    annotator.complete(ref["task_id"], jobs=[0])
    result = alflow("step", loop, "--when-unfinished", "accept_partial")
    assert result.exit_code == 0, result.output

    doc = round_doc(loop, 1)
    finished, unfinished = ref["frames"][:4], ref["frames"][4:]
    assert doc["state"] == "taught" and doc["metrics"]["labelled"] == 14
    assert doc["ingest"]["answered"] == finished and doc["ingest"]["pending"] == unfinished
    labelled = rounds.labelled(digits, loop)
    assert set(finished) <= set(labelled) and not set(unfinished) & set(labelled)
    # the next round is out for annotation, free to pick the unfinished jobs' samples again
    following = round_doc(loop, 2)
    assert following["state"] == "waiting"
    assert set(unfinished) <= pool_ids(loop) | set(following["queried_ids"])


def test_cancel_withdraws_the_batch(waiting, cvat_server):
    loop, ref, batch = waiting
    result = alflow("step", loop, "--when-unfinished", "cancel")
    assert result.exit_code == 0, result.output
    assert first_row(result.output)[:2] == ["1", "cancelled"]

    assert round_doc(loop, 1)["state"] == "cancelled"
    assert ref["task_id"] not in cvat_server.state.tasks
    assert set(batch) <= pool_ids(loop)
    assert "no round in flight" in alflow("status", loop).output
    nxt = alflow("step", loop)  # a new round, never round 1 again
    assert first_row(nxt.output)[:2] == ["2", "waiting"]


def test_round_links_its_cvat_task(waiting, cvat_server):
    loop, ref, _ = waiting
    with get_client(sync_client=True) as client:
        (link,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[f"{loop}-cvat-task"])),
            sort=ArtifactSort.CREATED_DESC,
        )
    # Prefect stores a link artifact as markdown: [text](url)
    assert link.data == f"[{naming.round_name(loop, 1)}]({cvat_server.url}/tasks/{ref['task_id']})"


def test_step_deployment_offers_the_choices_as_an_enum():
    schema = parameter_schema(step_flow).model_dump_for_openapi()
    options = schema["definitions"]["StepOptions"]
    assert options["additionalProperties"] is False
    field = options["properties"]["when_unfinished"]
    assert field["enum"] == CHOICES and field["default"] == "wait"
    assert schema["properties"]["options"]["anyOf"][0] == {"$ref": "#/definitions/StepOptions"}
