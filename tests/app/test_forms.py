"""The create form, resolved by FiftyOne's operator machinery, held to the configuration models.

A property whose name is not the model's (``criteria`` where scikit-learn reads ``criterion``,
``svm`` for ``svc``) would be dropped silently when the answers are validated, so every property
the form shows must be a field of the model it stands for, and every field must be shown.
"""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from alflow.app.forms import config_from_answers
from alflow.config import naming
from alflow.config.backends import (
    AppBackendConfig,
    CvatBackendConfig,
    LabelStudioBackendConfig,
    OracleBackendConfig,
)
from alflow.config.detection import DetectionConfig
from alflow.config.estimators import AdaBoostConfig, BaggingConfig
from alflow.config.loop import FeatureConfig, FieldLabels, LoopConfig, StopRules, TagLabels
from alflow.strategies import StrategyConfig, strategy_options
from tests.app.operators import errors_of, resolve_input

pytestmark = pytest.mark.usefixtures("plugin_dir")

ESTIMATORS = {
    get: model
    for model in LoopConfig.model_fields["estimator"].annotation.__args__
    for get in [model.model_fields["kind"].default]
}
BASES = {
    m.model_fields["kind"].default: m
    for m in BaggingConfig.model_fields["base_estimator"].annotation.__args__
}


def props(prop) -> dict:
    return prop.type.properties


def fields(model: type[BaseModel], *, skip: tuple[str, ...] = ()) -> set[str]:
    return set(model.model_fields) - set(skip)


def base(digits, **params) -> dict:
    return props(resolve_input("create_learner", digits, name="form-check", **params))


def test_the_top_level_form_is_the_loop_configuration(digits):
    shown = base(digits)
    # detection's settings show only for a detection loop
    assert fields(LoopConfig, skip=("schema_version", "dataset", "detection")) <= set(shown)
    extra = set(shown) - fields(LoopConfig)
    # no feature field is chosen yet: the form says so beside the features
    assert extra <= {"delegate", "naming", "no_labels", "features_problem"}, extra
    assert set(props(shown["features"])) == fields(FeatureConfig)
    assert set(props(shown["stop"])) == fields(StopRules)
    assert shown["features"].type.properties["fields"].view.choices[0].value == "pixels"


def test_detection_settings_show_only_for_a_detection_loop(digits):
    assert "detection" not in base(digits)
    shown = props(base(digits, task="detection")["detection"])
    assert set(shown) == fields(DetectionConfig)
    assert set(props(shown["proposals"])) == {"field"}


@pytest.mark.parametrize("kind", sorted(ESTIMATORS))
def test_each_estimator_shows_exactly_its_fields(digits, kind):
    shown = props(base(digits, estimator={"kind": kind})["estimator"])
    assert set(shown) == fields(ESTIMATORS[kind])
    assert shown["kind"].type.values == sorted(ESTIMATORS, key=list(ESTIMATORS).index)


@pytest.mark.parametrize("ensemble", [BaggingConfig, AdaBoostConfig])
@pytest.mark.parametrize("kind", sorted(BASES))
def test_each_base_estimator_shows_exactly_its_fields(digits, ensemble, kind):
    outer = ensemble.model_fields["kind"].default
    estimator = {"kind": outer, "base_estimator": {"kind": kind}}
    shown = props(base(digits, estimator=estimator)["estimator"])
    assert set(shown) == fields(ensemble)
    assert set(props(shown["base_estimator"])) == fields(BASES[kind])


@pytest.mark.parametrize(
    ("kind", "model"), [("field", FieldLabels), ("tags", TagLabels), ("none", None)]
)
def test_each_label_source_shows_exactly_its_fields(digits, kind, model):
    shown = props(base(digits, initial_labels={"kind": kind})["initial_labels"])
    assert set(shown) == ({"kind"} if model is None else fields(model))
    # a dataset with Classification fields preselects reading labels from one of them
    assert props(base(digits)["initial_labels"])["kind"].default == "field"


@pytest.mark.parametrize(
    ("kind", "model"),
    [
        ("app", AppBackendConfig),
        ("oracle", OracleBackendConfig),
        ("cvat", CvatBackendConfig),
        ("label_studio", LabelStudioBackendConfig),
    ],
)
def test_each_backend_shows_exactly_its_fields_and_app_is_the_default(digits, kind, model):
    shown = base(digits, backend={"kind": kind})["backend"]
    assert set(props(shown)) == fields(model)
    assert props(base(digits)["backend"])["kind"].default == "app"
    assert "password" not in repr(props(shown)).lower()


def test_the_form_offers_label_studio_and_makes_its_configuration(digits):
    shown = props(base(digits, backend={"kind": "label_studio"})["backend"])
    assert "label_studio" in shown["kind"].type.values
    assert "token" not in {name.lower() for name in shown}  # the token is never a form field
    answers = {"name": "form-ls", "features": {"fields": ["pixels"]}}
    answers["initial_labels"] = {"kind": "field", "field": "seed_labels"}
    answers["backend"] = {
        "kind": "label_studio",
        "url": "http://localhost:8080",
        "local_files_root": "/srv/media",
    }
    config = config_from_answers(answers, digits.name)
    assert config.backend == LabelStudioBackendConfig(
        url="http://localhost:8080", local_files_root="/srv/media"
    )


@pytest.mark.parametrize("name", ["margin", "typiclust_margin", "vote_entropy", "random"])
def test_each_strategy_shows_only_the_options_it_uses(digits, name):
    shown = props(base(digits, strategy={"name": name})["strategy"])
    assert set(shown) == {"name", *strategy_options(name)}
    assert props(base(digits)["strategy"])["name"].default == StrategyConfig().name


def test_form_defaults_make_the_models_defaults(digits):
    """A form left at its defaults (as the App submits it) is the models' default loop."""
    answers = {"name": "form-defaults", "features": {"fields": ["pixels"]}}
    answers["initial_labels"] = {"kind": "field", "field": "seed_labels"}
    config = config_from_answers(answers, digits.name)
    assert config.estimator == LoopConfig.model_fields["estimator"].default_factory()
    assert config.strategy == StrategyConfig()
    assert (config.backend.kind, config.eval_fraction) == ("app", 0.0)


def test_text_answers_of_union_fields_become_their_values(digits):
    answers = {
        "name": "form-text",
        "features": {"fields": ["pixels"]},
        "initial_labels": {"kind": "field", "field": "seed_labels"},
        "estimator": {"kind": "random_forest", "max_features": "0.5", "max_depth": None},
    }
    config = config_from_answers(answers, digits.name)
    assert (config.estimator.max_features, config.estimator.max_depth) == (0.5, None)
    answers["estimator"]["max_features"] = "log2"
    assert config_from_answers(answers, digits.name).estimator.max_features == "log2"
    answers["estimator"]["max_features"] = ""
    assert config_from_answers(answers, digits.name).estimator.max_features is None


def test_the_form_names_the_fields_the_loop_will_write(digits):
    notice = base(digits)["naming"].view.label
    assert naming.prediction_field("form-check") in notice
    assert naming.review_field("form-check") in notice


@pytest.mark.parametrize(
    ("params", "problem", "words"),
    [
        ({"name": "Bad Name"}, "bad_name", "breaks the naming rule"),
        ({"initial_labels": {"kind": "field", "field": "one_class"}}, "one_class", "two"),
        (
            {
                "features": {"fields": ["pixels"]},
                "initial_labels": {"kind": "field", "field": "seed_labels"},
                "backend": {"kind": "oracle"},
            },
            "backend_problem",
            "ground_truth_field",
        ),
        (
            {"features": {"fields": ["pixels"]}, "initial_labels": {"kind": "none"}},
            "initial_labels_problem",
            "cold-start",
        ),
    ],
)
def test_bad_input_shows_in_the_form_and_blocks_execute(digits, params, problem, words):
    if problem == "one_class" and "one_class" not in digits.get_field_schema():
        import fiftyone as fo

        first = digits.first()
        first["one_class"] = fo.Classification(label="3")
        first.save()
    answers = {"name": "form-check", "strategy": {"name": "margin"}, **params}
    problems = errors_of(resolve_input("create_learner", digits, **answers))
    assert problem in problems, problems
    assert words in problems[problem]


def test_a_taken_name_is_refused_in_the_form(digits):
    from alflow.loop.workspace import open_workspace

    ws = open_workspace()
    taken = "form-taken"
    if not ws.ledger.loop_exists(taken):
        ws.ledger.create_loop(taken, {"dataset": digits.name}, {})
    try:
        assert "name_taken" in errors_of(resolve_input("create_learner", digits, name=taken))
    finally:
        ws.ledger.delete_loop(taken)  # a bare record must not reach other tests


def test_answers_left_from_another_strategy_do_not_reach_the_loop(digits):
    """The App keeps a group's earlier answers when its choice changes (seen in Chromium)."""
    answers = {
        "name": "form-stale",
        "features": {"fields": ["pixels"]},
        "initial_labels": {"kind": "field", "field": "seed_labels"},
        "strategy": {"name": "margin", "candidates_per_pick": 9, "coverage_per_class": 7},
        "estimator": {"kind": "random_forest", "C": 3.0, "max_iter": 5},
    }
    config = config_from_answers(answers, digits.name)
    assert config.strategy == StrategyConfig(name="margin")
    assert config.estimator.kind == "random_forest"


def test_a_required_choice_starts_on_one_of_its_choices_not_the_ground_truth(digits):
    shown = props(base(digits, initial_labels={"kind": "field"})["initial_labels"])
    assert shown["field"].required
    assert shown["field"].default in [c.value for c in shown["field"].view.choices]
    assert shown["field"].default != "ground_truth"


def test_the_form_offers_the_own_model_scorer_and_makes_its_configuration(digits):
    # the specs the form renders (rendering the whole form is held by the tests above)
    from alflow.app.forms import DatasetChoices, visible_specs
    from alflow.config.own_model import EntryPointRetrain, ModelPredictionsConfig

    (scorer,) = [s for s in visible_specs(LoopConfig, {}) if s.name == "scorer"]
    assert [m.model_fields["kind"].default for m in scorer.models] == [
        "alflow",
        "model_predictions",
    ]
    assert {s.name for s in visible_specs(ModelPredictionsConfig, {})} == fields(
        ModelPredictionsConfig
    )
    choices = DatasetChoices(digits.name, ["pixels"], ["seed_labels"], [])
    assert choices.for_path("scorer.field") == ["seed_labels"]
    retrain = {"kind": "entry_point", "target": "examples.own_model:train_and_predict"}
    answers = {"name": "form-own", "features": {"fields": ["pixels"]}}
    answers["strategy"] = {"name": "margin"}
    answers["scorer"] = {
        "kind": "model_predictions",
        "field": "seed_labels",
        "classes": [str(d) for d in range(10)],
        "retrain": retrain,
    }
    config = config_from_answers(answers, digits.name)
    assert config.scorer == ModelPredictionsConfig(
        field="seed_labels",
        classes=[str(d) for d in range(10)],
        retrain=EntryPointRetrain(**retrain),
    )
