"""The plugin's operators through FiftyOne's own operator machinery, on the real database.

Two App-driven rounds (create -> query -> review -> update, twice) must end in exactly the
ledger, labels and predictions that the same two rounds reach when driven by ``alflow step``
and ``alflow review finish`` with the same answers.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from alflow.config import naming
from alflow.loop.workspace import open_workspace
from tests.app.operators import URI, errors_of, execute, form_params, resolve_input, review
from tests.helpers import unique_name

pytestmark = pytest.mark.usefixtures("prefect_server", "plugin_dir")


def state_of(dataset, loop: str) -> dict:
    """Everything that must match between App-driven and CLI-driven rounds."""
    ws = open_workspace()
    rounds = [
        {k: d.get(k) for k in ("round", "state", "queried_ids", "strategy", "batch_size", "scores")}
        | {"metrics": d.get("metrics"), "ingest": d.get("ingest")}
        for d in ws.ledger.rounds(loop)
    ]
    field = naming.label_field(loop)
    labelled = dataset.exists(field)
    labels = dict(
        zip(
            labelled.values("id"),
            zip(
                labelled.values(f"{field}.label"),
                labelled.values(f"{field}.source"),
                labelled.values(f"{field}.round"),
                labelled.values(f"{field}.changed"),
                labelled.values(f"{field}.via"),
                strict=True,
            ),
            strict=True,
        )
    )
    pred = naming.prediction_field(loop)
    predictions = dict(zip(dataset.values("id"), dataset.values(f"{pred}.label"), strict=True))
    return {"rounds": rounds, "labels": labels, "predictions": predictions}


def test_two_app_rounds_equal_two_cli_rounds(digits):
    from typer.testing import CliRunner

    from alflow.cli import app as cli

    runner = CliRunner()
    in_app, in_cli = unique_name("app"), unique_name("cli")
    for name in (in_app, in_cli):
        created = execute("create_learner", digits, **form_params(name))
        assert created.result["loop"] == name, created.result
        assert "error" not in created.result
        # no deployment on the session's Prefect API: the App's process runs it
        assert "deployment 'alflow-create-loop/create-loop' is not on" in created.result["ran"]
    assert open_workspace().ledger.round(in_app, 0)["state"] == "taught"

    reviews = {}
    for number in (1, 2):
        # the App: query, review, update
        queried = execute("query_learner", digits, loop=in_app)
        assert queried.result["round"]["round"] == number, queried.result
        assert queried.result["view"] == naming.round_name(in_app, number)
        reviews[number] = review(digits, in_app, number)
        updated = execute("update_learner_predictions", digits, loop=in_app)
        assert updated.result["round"]["state"] == "taught", updated.result
        # the CLI: the first step queries round 1; later steps teach and query the next
        out = runner.invoke(cli, ["step", in_cli])
        assert out.exit_code == 0, out.output
        review(digits, in_cli, number)
        assert runner.invoke(cli, ["review", "finish", in_cli]).exit_code == 0
    out = runner.invoke(cli, ["step", in_cli])  # teaches round 2 and queries round 3
    assert out.exit_code == 0, out.output
    ws = open_workspace()
    assert ws.ledger.round(in_cli, 3)["state"] == "waiting"
    execute("update_learner_predictions", digits, loop=in_cli, when_unfinished="cancel")

    app_state, cli_state = state_of(digits, in_app), state_of(digits, in_cli)
    cli_state["rounds"] = [r for r in cli_state["rounds"] if r["round"] < 3]
    # the reports name each loop's own round view; the rest must be identical
    same = repr(cli_state["rounds"]).replace(in_cli, in_app)
    assert repr(app_state["rounds"]) == same
    assert list(app_state["labels"].values()) == list(cli_state["labels"].values())
    assert app_state["predictions"] == cli_state["predictions"]

    # what the round's report and the label field say about the reviewer's work
    r1 = ws.ledger.round(in_app, 1)
    assert [u["sample_id"] for u in r1["ingest"]["unresolved"]] == [reviews[1]["double"]]
    assert r1["ingest"]["changed"] == 3
    labels = app_state["labels"]
    for sid in reviews[1]["tagged"]:
        assert labels[sid][1:] == ("app", 1, True, "tag")
    for sid in reviews[1]["edited"]:
        assert labels[sid][1:] == ("app", 1, True, "review_field")
    assert reviews[1]["double"] not in labels
    assert r1["backend"]["ref"]["review_finished"]["by"] == "app"


def test_a_new_process_continues_the_loop_the_app_created(digits):
    loop = unique_name("restart")
    execute("create_learner", digits, **form_params(loop))
    execute("query_learner", digits, loop=loop)
    code = (
        "import alflow, sys\n"
        "from alflow import rounds\n"
        "from alflow.loop.workspace import open_workspace\n"
        f"print(rounds.finish_review(open_workspace(), {loop!r}, by='restart')['round'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "1"
    form = resolve_input("update_learner_predictions", digits, loop=loop)
    assert not errors_of(form)
    updated = execute("update_learner_predictions", digits, loop=loop)
    assert updated.result["round"]["state"] == "taught", updated.result
    doc = open_workspace().ledger.round(loop, 1)
    assert doc["backend"]["ref"]["review_finished"]["by"] == "restart"


def test_a_fit_run_in_the_background_is_queued_and_executed_by_fiftyone(digits):
    """'Run in the background' delegates the operation; FiftyOne's executor (which
    'alflow app' runs) executes it, with the progress the operator reports."""
    from fiftyone.operators.delegated import DelegatedOperationService

    loop = unique_name("delegated")
    queued = execute("create_learner", digits, delegate=True, **form_params(loop))
    assert queued.delegated
    assert not open_workspace().ledger.loop_exists(loop)
    service = DelegatedOperationService()
    (done,) = service.execute_queued_operations(operator=f"{URI}/create_learner")
    assert done.error is None, done.error
    assert open_workspace().ledger.round(loop, 0)["state"] == "taught"
    (op,) = [
        o for o in service.list_operations(dataset_name=digits.name) if o.id == queued.result["id"]
    ]
    assert op.run_state == "completed"
    assert op.status.progress == 1.0 and op.status.label == "round 0 fitted"


def test_status_says_in_the_app_what_the_cli_says_in_commands(digits):
    from typer.testing import CliRunner

    from alflow.cli import app as cli

    loop = unique_name("status")
    execute("create_learner", digits, **form_params(loop))
    execute("query_learner", digits, loop=loop)
    shown = execute("loop_status", digits, loop=loop).result
    printed = CliRunner().invoke(cli, ["status", loop]).output
    assert f"alflow review finish {loop}" in printed.splitlines()[1]  # the CLI keeps its own
    assert "Round 1 is under review in the App" in shown["status"][1]
    assert "'Active Learning: update learner predictions'" in shown["status"][1]
    assert not [line for line in shown["status"] if "alflow " in line or "pid" in line]
    assert "| 0 | 10 |" in shown["lines"][0]  # the learning curve: round 0, 10 labels
    # the scheduled advance skips it, saying what it waits for
    from alflow import rounds

    ready, why = rounds.readiness(open_workspace(), loop)
    assert not ready and "under review in the FiftyOne App" in why


def test_deleting_an_app_loop_removes_its_review_traces(digits):
    from alflow import rounds

    loop = unique_name("gone")
    execute("create_learner", digits, **form_params(loop))
    ids = execute("query_learner", digits, loop=loop).result["sample_ids"]
    field, view = naming.round_field(loop), naming.round_name(loop, 1)
    digits.reload()
    assert digits.count_values(field) == {1: 10, None: len(digits) - 10}
    assert view in digits.list_saved_views()
    assert naming.review_field(loop) in digits.label_schemas
    # a round shown before the round field existed tagged its batch; deleting removes the tag
    legacy = f"{naming.round_tag_prefix(loop)}round-001"
    digits.select(ids).tag_samples(legacy)
    deleted = rounds.delete_loop(open_workspace(), loop)
    digits.reload()
    assert set(naming.review_surface_fields(loop)) <= set(deleted["fields_deleted"])
    assert legacy not in digits.count_sample_tags()
    assert view not in digits.list_saved_views()
    assert naming.review_field(loop) not in digits.label_schemas


def test_cancelling_a_round_in_the_app_withdraws_its_batch(digits):
    loop = unique_name("cancel")
    execute("create_learner", digits, **form_params(loop))
    ids = execute("query_learner", digits, loop=loop).result["sample_ids"]
    done = execute("update_learner_predictions", digits, loop=loop, when_unfinished="cancel")
    assert done.result["round"]["state"] == "cancelled"
    digits.reload()
    assert digits.select(ids).values(naming.round_field(loop)) == [None] * len(ids)
    review = naming.review_field(loop)
    assert digits.select(ids).values(review) == [None] * len(ids)
    again = execute("query_learner", digits, loop=loop).result
    assert again["round"]["round"] == 2  # the cancelled number is not reused


def test_the_batch_is_the_ledgers_not_the_round_field_or_tags(digits):
    loop = unique_name("field")
    execute("create_learner", digits, **form_params(loop))
    ids = execute("query_learner", digits, loop=loop).result["sample_ids"]
    digits.reload()
    batch = digits.select(ids)
    batch.set_values(naming.round_field(loop), [None] * len(ids))
    batch.untag_samples(batch.distinct("tags"))
    updated = execute("update_learner_predictions", digits, loop=loop)
    assert updated.result["round"]["state"] == "taught", updated.result
    doc = open_workspace().ledger.round(loop, 1)
    assert sorted(doc["ingest"]["answered"]) == sorted(ids)
    digits.reload()
    field = naming.label_field(loop)
    learned = dict(zip(*digits.select(ids).values(["id", f"{field}.round"]), strict=True))
    assert learned == dict.fromkeys(ids, 1)


def test_failing_a_round_in_the_app_returns_its_batch_and_keeps_the_loop_going(digits):
    loop = unique_name("fail")
    execute("create_learner", digits, **form_params(loop))
    ids = execute("query_learner", digits, loop=loop).result["sample_ids"]
    done = execute("update_learner_predictions", digits, loop=loop, when_unfinished="fail")
    assert done.result["round"]["state"] == "failed", done.result
    doc = open_workspace().ledger.round(loop, 1)
    assert doc["ended"]["reason"] == "failed in the App"
    assert doc["ended"]["returned_to_pool"] == len(ids)
    assert execute("query_learner", digits, loop=loop).result["round"]["round"] == 2
