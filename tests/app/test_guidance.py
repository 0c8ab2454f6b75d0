"""The App for people who never write code (issue 26), through FiftyOne's operator machinery.

The form re-validates on every change and puts each problem beside its field; the untouched
form is valid for every estimator and backend; the update form counts the review live and warns;
results and the status say what the review did; the App's words have no shell commands.
"""

from __future__ import annotations

import numpy as np
import pytest

from alflow.config import naming
from alflow.config.loop import LoopConfig
from tests.app.operators import (
    defaults_of,
    errors_of,
    execute,
    form_params,
    resolve_input,
    resolve_output,
    review,
    texts_of,
)
from tests.helpers import unique_name

pytestmark = pytest.mark.usefixtures("prefect_server", "plugin_dir")

ESTIMATORS = [
    m.model_fields["kind"].default for m in LoopConfig.model_fields["estimator"].annotation.__args__
]
BACKENDS = [
    m.model_fields["kind"].default for m in LoopConfig.model_fields["backend"].annotation.__args__
]


def unmark(dataset, loop: str) -> None:
    """Take other loops' class tags off this round's batch (they share the digits)."""
    from alflow.loop.workspace import open_workspace

    ids = open_workspace().ledger.round(loop, 1)["queried_ids"]
    dataset.select(ids).untag_samples([str(d) for d in range(10)])


def order(form) -> list[str]:
    return list(form.type.properties)


def untouched(dataset, **chosen) -> dict:
    """The params the App submits after a person made only the ``chosen`` picks."""
    first = defaults_of(resolve_input("create_learner", dataset, **chosen).type)
    params = {**first, **chosen}
    return {**defaults_of(resolve_input("create_learner", dataset, **params).type), **chosen}


def test_adding_then_removing_a_feature_blocks_execute_beside_the_feature_field(digits):
    params = form_params(unique_name("feature"))
    assert not errors_of(resolve_input("create_learner", digits, **params))
    params["features"] = {"fields": [], "standardize": True}
    form = resolve_input("create_learner", digits, **params)
    problems = errors_of(form)
    assert list(problems) == ["features_problem"]
    assert problems["features_problem"] == "feature fields: choose at least one"
    assert order(form).index("features_problem") == order(form).index("features") + 1


def test_the_executor_refuses_a_form_with_a_problem(digits):
    from fiftyone.operators.executor import ExecutionError

    params = {**form_params(unique_name("refused")), "features": {"fields": []}}
    with pytest.raises(ExecutionError, match="features_problem"):
        execute("create_learner", digits, **params)


def test_a_failed_create_shows_its_error_under_a_failure_title():
    import fiftyone as fo

    vectors = [np.array([float(i), 1.0]) for i in range(12)]
    vectors[3] = np.array([np.nan, 1.0])
    dataset = fo.Dataset(unique_name("nan"))
    dataset.add_samples(
        fo.Sample(
            filepath=f"/nowhere/{i}.png",
            emb=vectors[i],
            seed=fo.Classification(label="ab"[i % 2]) if i < 4 else None,
        )
        for i in range(12)
    )
    params = {"name": unique_name("nan"), "features": {"fields": ["emb"]}}
    params["initial_labels"] = {"kind": "field", "field": "seed"}
    result = execute("create_learner", dataset, **params).result
    assert "emb" in result["error"]
    shown = resolve_output("create_learner", dataset, result, **params)
    assert shown.view.label == "Learner not created"
    assert list(shown.type.properties) == ["error"]
    ok = resolve_output("create_learner", dataset, {"lines": ["fine"]})
    assert ok.view.label == "Learner created"


def test_a_rule_across_fields_sits_beside_the_field_it_names(digits):
    params = {**form_params(unique_name("rule")), "backend": {"kind": "oracle"}}
    params["ground_truth_field"] = ""
    params["eval_fraction"] = 0.0
    form = resolve_input("create_learner", digits, **params)
    assert list(errors_of(form)) == ["backend_problem"]
    assert "simulated annotator" in errors_of(form)["backend_problem"]
    assert order(form).index("backend_problem") == order(form).index("backend") + 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_untouched_form_is_valid_for_every_estimator(digits, backend):
    for estimator in ESTIMATORS:
        chosen = {"features": {"fields": ["pixels"]}, "estimator": {"kind": estimator}}
        chosen["backend"] = {"kind": backend}
        params = untouched(digits, **chosen)
        params["estimator"] = {**params["estimator"], "kind": estimator}
        assert params["initial_labels"] == {"kind": "field", "field": "seed_labels"}
        assert params["ground_truth_field"] == "ground_truth"
        problems = errors_of(resolve_input("create_learner", digits, **params))
        assert problems == {}, (estimator, backend, problems)


def test_without_ground_truth_the_default_holds_nothing_out_and_says_so():
    import fiftyone as fo

    dataset = fo.Dataset(unique_name("nogt"))
    rng = np.random.default_rng(0)
    dataset.add_samples(
        fo.Sample(
            filepath=f"/nowhere/{i}.png",
            emb=rng.normal(size=3),
            seed=fo.Classification(label="ab"[i % 2]) if i < 4 else None,
        )
        for i in range(12)
    )
    params = untouched(dataset, features={"fields": ["emb"]})
    assert params["eval_fraction"] == 0.0 and params.get("ground_truth_field", "") == ""
    form = resolve_input("create_learner", dataset, **params)
    assert errors_of(form) == {}
    notice = form.type.properties["no_ground_truth"].view.label
    assert "nothing is held out for evaluation" in notice
    assert order(form).index("no_ground_truth") == order(form).index("ground_truth_field") + 1
    # a held-out share without ground truth is refused beside the share
    params["eval_fraction"] = 0.3
    form = resolve_input("create_learner", dataset, **params)
    assert list(errors_of(form)) == ["eval_fraction_problem"]


def test_the_update_form_counts_the_review_live_and_warns(digits):
    loop = unique_name("counts")
    execute("create_learner", digits, **form_params(loop))
    execute("query_learner", digits, loop=loop)
    unmark(digits, loop)
    form = resolve_input("update_learner_predictions", digits, loop=loop)
    counts = form.type.properties["round"].view.label
    assert counts == (
        "Round 1 review so far: 0 of 10 marked (0 by tag, 0 edited), 0 unresolved, "
        "0 skipped, 10 unmarked."
    )
    warning = form.type.properties["review_warning"].view.label
    assert "Nothing is marked on every sample" in warning
    partial = resolve_input(
        "update_learner_predictions", digits, loop=loop, when_unfinished="accept_partial"
    )
    assert "the learner learns nothing" in partial.type.properties["review_warning"].view.label
    review(digits, loop, 1)
    form = resolve_input("update_learner_predictions", digits, loop=loop)
    assert form.type.properties["round"].view.label == (
        "Round 1 review so far: 3 of 10 marked (2 by tag, 1 edited), 1 unresolved, "
        "0 skipped, 6 unmarked."
    )
    assert "6 samples: they will be learned as the model predicted" in (
        form.type.properties["review_warning"].view.label
    )
    partial = resolve_input(
        "update_learner_predictions", digits, loop=loop, when_unfinished="accept_partial"
    )
    assert "review_warning" not in partial.type.properties


def test_the_result_and_the_status_say_what_the_review_did(digits):
    loop = unique_name("outcome")
    execute("create_learner", digits, **form_params(loop))
    ids = execute("query_learner", digits, loop=loop).result["sample_ids"]
    unmark(digits, loop)
    marked = review(digits, loop, 1)
    untouched_ids = [
        i for i in ids if i not in {marked["double"], *marked["tagged"], *marked["edited"]}
    ]
    skipped = digits[untouched_ids[0]]
    skipped[naming.review_field(loop)] = None
    skipped.save()
    result = execute("update_learner_predictions", digits, loop=loop).result
    did = result["review"]
    assert (did["corrected"], did["accepted"], did["skipped"]) == (3, 5, 1)
    assert len(did["unresolved"]) == 1 and "2 class tags" in did["unresolved"][0]
    assert did["learned"] == 8
    assert result["lines"][1].startswith(
        "Review of round 1: 3 corrected, 5 accepted, 1 skipped, 1 unresolved; 8 labels learned."
    )
    assert "Held-out accuracy: " in result["lines"][1] and "→" in result["lines"][1]
    view = f"{naming.round_name(loop, 1)}-unresolved"
    assert did["view"] == view and view in digits.list_saved_views()
    assert set(digits.load_saved_view(view).values("id")) == {marked["double"], skipped.id}
    link = [line for line in result["lines"] if f"?view={view})" in line]
    assert link and f"/datasets/{digits.name}?view=" in link[0]
    status = execute("loop_status", digits, loop=loop).result
    assert "Review of round 1: 3 corrected, 5 accepted" in status["lines"][0]


def test_taking_only_marks_when_nothing_is_marked_says_the_batch_went_back(digits):
    loop = unique_name("partial")
    execute("create_learner", digits, **form_params(loop))
    execute("query_learner", digits, loop=loop)
    unmark(digits, loop)
    result = execute(
        "update_learner_predictions", digits, loop=loop, when_unfinished="accept_partial"
    ).result
    assert "error" not in result, result
    assert "0 labels learned" in result["lines"][1]
    assert "10 unmarked samples went back to the pool unlabelled." in result["lines"]


def test_app_dialogs_have_no_shell_commands_pids_or_addresses_and_an_advanced_group(digits):
    loop = unique_name("words")
    shown = texts_of(resolve_input("create_learner", digits, **form_params(loop)).type)
    created = execute("create_learner", digits, **form_params(loop)).result
    execute("query_learner", digits, loop=loop)
    shown += texts_of(resolve_input("update_learner_predictions", digits, loop=loop).type)
    shown += texts_of(resolve_input("loop_status", digits, loop=loop).type)
    shown += created["lines"] + execute("loop_status", digits, loop=loop).result["lines"]
    bad = [t for t in shown if "'alflow " in t or "pid " in t or "127.0.0.1" in t]
    assert bad == []
    form = resolve_input("create_learner", digits, **form_params(unique_name("adv")))
    names = [n for n in order(form) if n in LoopConfig.model_fields]
    assert names[-1] == "scoring"
    assert form.type.properties["scoring"].view.label.startswith("Advanced")
