"""The plugin in the real FiftyOne App server, through the HTTP routes the App's browser calls.

``test_operators.py`` runs the operators through FiftyOne's executor in the test process; this
starts the App's own server as a subprocess (plugins loaded from FIFTYONE_PLUGINS_DIR, the
session's mongod, the test harness's Prefect API) and speaks to it as the browser does, so what
is checked here is what a person clicking through the App gets: the operator list, the forms,
the results and the App operations (set the view, reload) the replies ask for.
"""

from __future__ import annotations

import pytest

from alflow.config import naming
from alflow.loop.workspace import open_workspace
from tests.app.app_server import URI, app_environment, running_app
from tests.app.operators import form_params
from tests.helpers import unique_name

SEED_OPERATORS = ("create_learner", "query_learner", "update_learner_predictions")


@pytest.fixture(scope="module")
def app(prefect_server, plugin_dir, digits, state_home):
    """The App server with alflow's plugin, reaching the session's Prefect test API."""
    from prefect.settings import PREFECT_API_URL

    env = app_environment(PREFECT_API_URL.value())
    with running_app(env, state_home / "logs" / "app-server") as server:
        yield server


def browser_create_params(name: str) -> dict:
    """The create form's params exactly as the App's browser sends them (recorded in Chromium
    by docs/screenshots/app_screenshots.py) after a person switched the estimator from
    logistic_regression to gradient_boosting and the strategy from typiclust_margin to margin:
    the App keeps the old branch's answers inside the nested object and sends '' for an
    unchosen optional choice."""
    return {
        "name": name,
        "features": {"standardize": True, "fields": ["pixels"]},
        "initial_labels": {"kind": "field", "field": "seed_labels"},
        "ground_truth_field": "ground_truth",
        "estimator": {
            "kind": "gradient_boosting",
            "C": 1,
            "max_iter": 1000,
            "n_estimators": 100,
            "learning_rate": 0.1,
            "subsample": 1,
            "max_depth": 3,
            "min_samples_split": 2,
            "min_samples_leaf": 1,
            "max_features": "",
            "criterion": "friedman_mse",
        },
        "strategy": {"name": "margin", "candidates_per_pick": 3, "coverage_per_class": 3},
        "batch_size": 10,
        "eval_fraction": 0.2,
        "eval_tag": "",
        "backend": {"kind": "app", "unknown_labels": "error"},
        "stop": {"plateau_delta": 0.002},
        "random_state": 0,
        "delegate": False,
    }


def requested(reply: dict) -> list[dict]:
    """The App operations an execute reply asks the browser to run, in order.

    ``console_log`` is left out: outside delegation FiftyOne turns each ``ctx.set_progress``
    into one, for the browser console only.
    """
    asks = (reply.get("executor") or {}).get("requests", [])
    return [r for r in asks if r["operator_uri"] != "console_log"]


def test_the_app_lists_alflows_operators(app, digits):
    listed = app.list_operators(digits.name)
    ours = {op["uri"]: op["config"] for op in listed["operators"] if op["uri"].startswith(URI)}
    assert set(ours) == {f"{URI}/{name}" for name in (*SEED_OPERATORS, "loop_status")}
    assert all(config["can_execute"] for config in ours.values())
    assert not [e for e in listed["errors"] if "alflow" in str(e)], listed["errors"]


def test_the_create_form_resolves_its_nested_groups(app, digits):
    form = app.resolve_input("create_learner", digits.name, form_params(unique_name("form")))
    props = form["type"]["properties"]
    assert props["estimator"]["type"]["properties"]["max_iter"]["type"]["name"] == "Number"
    assert props["features"]["type"]["properties"]["fields"]["type"]["name"] == "List"
    assert props["backend"]["type"]["properties"]["kind"]["default"] == "app"
    blocking = [name for name, p in props.items() if p.get("invalid")]
    assert blocking == []


def test_create_query_update_through_the_app(app, digits):
    from fiftyone.core.view import DatasetView

    loop = unique_name("http")
    created = app.execute("create_learner", digits.name, form_params(loop))
    assert created["error"] is None, created
    assert created["result"]["loop"] == loop, created["result"]
    assert "error" not in created["result"], created["result"]

    queried = app.execute("query_learner", digits.name, {"loop": loop})
    assert queried["error"] is None and "error" not in queried["result"], queried
    doc = open_workspace().ledger.round(loop, 1)
    asks = requested(queried)
    assert [r["operator_uri"] for r in asks] == ["reload_dataset", "set_view"]
    assert DatasetView._build(digits, asks[1]["params"]["view"]).values("id") == doc["queried_ids"]
    assert len(doc["queried_ids"]) == form_params(loop)["batch_size"]
    assert queried["result"]["view"] == naming.round_name(loop, 1)

    updated = app.execute("update_learner_predictions", digits.name, {"loop": loop})
    assert updated["error"] is None and "error" not in updated["result"], updated
    assert [r["operator_uri"] for r in requested(updated)] == ["reload_dataset"]
    assert open_workspace().ledger.round(loop, 1)["state"] == "taught"
    assert updated["result"]["round"]["state"] == "taught"


def test_what_the_browser_sends_after_switching_branches_creates_that_loop(app, digits):
    loop = unique_name("switched")
    created = app.execute("create_learner", digits.name, browser_create_params(loop))
    assert created["error"] is None and "error" not in created["result"], created
    config = open_workspace().ledger.loop(loop)["config"]
    assert config["estimator"]["kind"] == "gradient_boosting"
    assert "C" not in config["estimator"] and "max_iter" not in config["estimator"]
    assert config["estimator"]["max_features"] is None
    assert config["strategy"]["name"] == "margin"
    assert config["eval_tag"] is None
    assert config["features"] == {"fields": ["pixels"], "standardize": True}


def test_through_the_routes_a_removed_feature_blocks_and_the_update_form_counts(app, digits):
    params = form_params(unique_name("routes"))
    params["features"] = {"fields": [], "standardize": True}
    props = app.resolve_input("create_learner", digits.name, params)["type"]["properties"]
    names = list(props)
    assert [n for n, p in props.items() if p.get("invalid")] == ["features_problem"]
    assert names.index("features_problem") == names.index("features") + 1
    assert props["features_problem"]["error_message"] == "feature fields: choose at least one"
    loop = unique_name("routes")
    assert app.execute("create_learner", digits.name, form_params(loop))["error"] is None
    app.execute("query_learner", digits.name, {"loop": loop})
    form = app.resolve_input("update_learner_predictions", digits.name, {"loop": loop})
    notice = form["type"]["properties"]["round"]["view"]["label"]
    assert notice.startswith("Round 1 review so far: ") and "of 10 marked" in notice
    updated = app.execute("update_learner_predictions", digits.name, {"loop": loop})
    assert updated["result"]["lines"][1].startswith("Review of round 1: ")
