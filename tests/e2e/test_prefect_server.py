"""alflow's deployments on a real Prefect server, run by real process workers.

One `prefect server start` on loopback (its own SQLite database) serves the module. The
deployments are created exactly as docs/operations.md says (`prefect work-pool create`, then
`prefect --no-prompt deploy --all --prefect-file deployments/prefect.yaml` from the repository
root), workers are `prefect worker start --pool alflow-process` subprocesses, and runs are
triggered with `prefect deployment run ... --watch` (or, where the command line is not the
point, Prefect's ``run_deployment``). Workers get the session's ALFLOW_HOME and
MongoDB, so a round they run lands in the same ledger the test reads.
"""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from alflow import rounds
from alflow.config import naming
from alflow.loop.workspace import open_workspace
from alflow.state.ledger import EXPORTED, TAUGHT, WAITING
from tasks import fit_initial_learner, load_features, register_loop
from tests.cvat_stand_in.annotator import Annotator
from tests.e2e.services import ROOT, PrefectServer, start_prefect_server
from tests.helpers import loop_config

ADVANCE_CRON = "*/10 * * * *"


@pytest.fixture(scope="module")
def deployed_server(state_home, fo_db, tmp_path_factory):
    """A Prefect server with the alflow-process pool and the deployments of prefect.yaml."""
    server = start_prefect_server(
        state_home / "prefect-server", tmp_path_factory.mktemp("prefect-services")
    )
    try:
        created = server.cli("work-pool", "create", "alflow-process", "--type", "process")
        assert created.returncode == 0, created.stdout + created.stderr
        deployed = server.cli(
            "--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml"
        )
        assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
        yield server
    finally:
        server.stop()


@pytest.fixture
def server(deployed_server):
    """The module's server; the workers a test starts are stopped when it ends (a worker left
    polling would take the next test's runs, with the wrong environment)."""
    yield deployed_server
    deployed_server.stop_workers()


def unique_loop(prefix: str) -> str:
    """A loop name no other test session sharing the database can have picked."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_loop(config) -> None:
    """Create the loop with the task bodies (no Prefect run needed for set-up)."""
    register_loop.fn(config)
    load_features.fn(config.name)
    fit_initial_learner.fn(config.name)


def run_deployment(server: PrefectServer, name: str, params: dict) -> str:
    """`prefect deployment run NAME --params JSON --watch`; its output, once the run completed."""
    out = server.cli(
        "deployment",
        "run",
        name,
        "--params",
        json.dumps(params),
        "--watch",
        "--watch-interval",
        "1",
        "--watch-timeout",
        "240",
        timeout=300,
    )
    assert out.returncode == 0, (
        f"{out.stdout[-2000:]}{out.stderr[-2000:]}\n{server.failed_run_logs()}"
    )
    return out.stdout


def flow_runs_named(server: PrefectServer, name: str):
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    with server.client() as client:
        return client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name]))
        )


def test_deployments_run_a_round_on_a_process_worker(server, digits):
    with server.client() as client:
        step = client.read_deployment_by_name("alflow-step/step")
        advance = client.read_deployment_by_name("alflow-advance/advance")
        client.read_deployment_by_name("alflow-create-loop/create-loop")
    assert [(s.schedule.cron, s.active) for s in advance.schedules] == [(ADVANCE_CRON, True)]
    assert step.schedules == []
    for deployment in (step, advance):
        assert deployment.work_pool_name == "alflow-process"
        # runs execute in this checkout, wherever the caller's PWD variable points
        assert deployment.pull_steps == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}
        ]
    options = step.parameter_openapi_schema["definitions"]["StepOptions"]["properties"]
    assert options["when_unfinished"]["enum"] == ["wait", "accept_partial", "cancel"]
    assert step.parameters == {"options": {"when_unfinished": "wait"}}

    config = loop_config(unique_loop("srv"))
    create_loop(config)
    server.start_worker("worker-1")
    out = run_deployment(server, "alflow-step/step", {"loop": config.name})
    assert "Flow run finished successfully in 'Completed'" in out

    doc = open_workspace().ledger.round(config.name, 1)
    assert doc["state"] == TAUGHT and doc["metrics"]["labelled"] == 20
    assert [h["state"] for h in doc["history"]] == ["queried", "exported", "ingested", "taught"]
    (step_run,) = flow_runs_named(server, f"{config.name}-step")
    (round_run,) = flow_runs_named(server, naming.round_name(config.name, 1))
    assert step_run.deployment_id == step.id and step_run.state.is_completed()
    assert round_run.parent_task_run_id is not None and round_run.state.is_completed()
    assert {f"loop:{config.name}", "round:1"} <= set(round_run.tags)
    assert str(round_run.id) in {r["id"] for r in doc["flow_runs"]}


def test_a_new_worker_advances_a_loop_whose_worker_died_during_annotation(
    server, digits, cvat_server, cvat_env
):
    backend = {
        "kind": "cvat",
        "url": cvat_server.url,
        "segment_size": 5,
        "backoff_seconds": 0.01,
        "backoff_max_seconds": 0.05,
        "poll_seconds": 0.01,
    }
    config = loop_config(unique_loop("crash"), backend=backend)
    env = {**server.env, **cvat_env}  # the workers' runs log in to the stand-in too
    create_loop(config)
    ledger = open_workspace().ledger

    first = server.start_worker("worker-a", env)
    server.run_deployment("alflow-step/step", {"loop": config.name})
    waiting = ledger.round(config.name, 1)
    assert waiting["state"] == WAITING
    ref = waiting["backend"]["ref"]
    assert len(cvat_server.jobs(ref["task_id"])) == 2

    first.kill()
    assert not first.alive()
    assert rounds.readiness(open_workspace(), config.name) == (
        False,
        "round 1 waits for annotators: 0/2 finished",
    )

    annotator = Annotator(cvat_server.url, cvat_server.username, cvat_server.password)
    truth = dict(zip(digits.values("id"), digits.values("ground_truth.label"), strict=True))
    guesses = annotator.tags(ref["task_id"])
    wrong = {
        f: truth[ref["frames"][f]]
        for f, tags in guesses.items()
        if tags != [truth[ref["frames"][f]]]
    }
    annotator.retag(ref["task_id"], wrong)
    annotator.complete(ref["task_id"])

    server.start_worker("worker-b", env)
    advanced = server.run_deployment("alflow-advance/advance", {"loops": [config.name]})

    taught = ledger.round(config.name, 1)
    assert taught["state"] == TAUGHT and taught["metrics"]["labelled"] == 20
    assert sorted(taught["ingest"]["answered"]) == sorted(waiting["queried_ids"])
    assert taught["ingest"]["changed"] == len(wrong)
    labels = rounds.labelled(digits, config.name)
    assert {sid: labels[sid] for sid in waiting["queried_ids"]} == {
        sid: truth[sid] for sid in waiting["queried_ids"]
    }
    assert len({r["id"] for r in taught["flow_runs"]}) >= 2  # the dead worker's run and the new
    following = ledger.round(config.name, 2)
    assert following["state"] in (EXPORTED, WAITING)
    assert following["backend"]["ref"]["task_id"] != ref["task_id"]
    assert advanced.name == "advance-loops"


def test_app_operations_run_as_deployment_runs_once_a_worker_polls(server, digits):
    """The App's create / query / update go to alflow's deployments when a worker polls the
    pool (the choice without one is tested in tests/unit/test_app_runs.py)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from alflow.app import actions

    config = loop_config(unique_loop("appdep"), backend={"kind": "app"})
    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        server.start_worker("worker-app")
        created = actions.create(config)
        assert created["ran"] == f"deployment 'alflow-create-loop/create-loop' on {server.api_url}"
        assert created["run_url"].startswith(server.api_url.removesuffix("/api") + "/runs/")
        assert created["round_0"]["state"] == TAUGHT
        queried = actions.query(config.name)
        assert queried["round"]["state"] == WAITING and len(queried["sample_ids"]) == 10
        updated = actions.update(config.name)
        assert updated["ran"].startswith("deployment 'alflow-step/step'")
    doc = open_workspace().ledger.round(config.name, 1)
    assert doc["state"] == TAUGHT and doc["backend"]["ref"]["review_finished"]["by"] == "app"
    assert open_workspace().ledger.get_round(config.name, 2) is None  # update opens no round


def readme_commands(heading: str) -> list[str]:
    """The command lines of the README's first bash block after ``heading`` (continuations
    joined, comments dropped), as a user would paste them."""
    text = (ROOT / "README.md").read_text()
    block = text.split(heading, 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    joined = block.replace("\\\n", " ")
    lines = [line.split("   #", 1)[0].strip() for line in joined.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_after_the_demo_the_readmes_three_ways_commands_run_in_order(server, digits):
    """`make demo`, then the README's command-line way to run a round, each as written."""
    env = {**server.env, "PREFECT_LOGGING_LEVEL": "WARNING"}
    demo = subprocess.run(
        [str(ROOT / ".venv/bin/alflow"), "demo", "--rounds", "2"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    ledger = open_workspace().ledger
    assert ledger.loop("digits-demo")["status"] == "active"  # the demo leaves it steppable
    assert f"See the runs in the Prefect UI:   {server.api_url.removesuffix('/api')}" in demo.stdout

    server.start_worker("worker-readme")
    commands = readme_commands("**c. From the command line.**")
    assert len(commands) == 5 and commands[0] == ".venv/bin/alflow step digits-demo"
    for command in commands:
        out = subprocess.run(
            command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
        )
        assert out.returncode == 0, f"{command}\n{out.stdout[-2000:]}{out.stderr[-2000:]}"
        if "--watch" in command:
            assert "finished successfully in 'Completed'" in out.stdout, out.stdout[-2000:]
    taught = [d["round"] for d in ledger.rounds("digits-demo") if d["state"] == "taught"]
    assert taught[:3] == [0, 1, 2] and len(taught) >= 6  # two demo rounds, then 4 steps
