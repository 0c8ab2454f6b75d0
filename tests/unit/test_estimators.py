"""Estimator configurations: every kind builds and fits; invalid combinations are refused."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError
from sklearn.datasets import load_digits
from sklearn.ensemble import AdaBoostClassifier, BaggingClassifier
from sklearn.svm import SVC

from alflow.config.estimators import (
    AdaBoostConfig,
    BaggingConfig,
    DecisionTreeConfig,
    EstimatorConfig,
    GradientBoostingConfig,
    KNNConfig,
    LogisticRegressionConfig,
    RandomForestConfig,
    SVCConfig,
)
from alflow.learning.build import build_estimator

ESTIMATOR = TypeAdapter(EstimatorConfig)

CONFIGS = [
    RandomForestConfig(n_estimators=20, max_depth=6, criterion="entropy", max_samples=0.8),
    RandomForestConfig(n_estimators=10, bootstrap=False, max_features=0.5, max_leaf_nodes=16),
    GradientBoostingConfig(n_estimators=10, subsample=0.8, criterion="squared_error"),
    BaggingConfig(n_estimators=5),
    BaggingConfig(base_estimator=KNNConfig(n_neighbors=1), n_estimators=3, max_features=0.5),
    BaggingConfig(base_estimator=SVCConfig(), n_estimators=3, bootstrap_features=True),
    BaggingConfig(n_estimators=4, bootstrap=False, max_samples=0.7),
    AdaBoostConfig(n_estimators=10),
    AdaBoostConfig(base_estimator=SVCConfig(kernel="linear"), n_estimators=3),
    LogisticRegressionConfig(C=0.5),
    KNNConfig(n_neighbors=3, weights="distance"),
    SVCConfig(C=2.0),
]


@pytest.fixture(scope="module")
def small_digits() -> tuple[np.ndarray, np.ndarray]:
    """Ten labels of each of four digit classes, as class names."""
    X, y = load_digits(n_class=4, return_X_y=True)
    rows = np.concatenate([np.flatnonzero(y == c)[:10] for c in range(4)])
    return X[rows], y[rows].astype(str)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.kind}")
def test_every_config_builds_fits_and_gives_probabilities(config, small_digits):
    X, y = small_digits
    model = build_estimator(config, random_state=0).fit(X, y)
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert list(model.classes_) == sorted(set(y))


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.kind}")
def test_configs_round_trip_through_the_union(config):
    parsed = ESTIMATOR.validate_python(config.model_dump())
    assert parsed == config


def test_same_random_state_fits_the_same_model(small_digits):
    X, y = small_digits
    config = RandomForestConfig(n_estimators=15)
    a = build_estimator(config, 3).fit(X, y).predict_proba(X)
    b = build_estimator(config, 3).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)


def test_svc_always_has_probabilities_and_fits_without_deprecation_warning(small_digits):
    X, y = small_digits
    model = build_estimator(SVCConfig(), 0)
    assert isinstance(model, SVC) and model.probability is True
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        model.fit(X, y)
    assert model.predict_proba(X).shape == (len(X), 4)


def test_base_estimator_is_passed_to_bagging_and_adaboost():
    bagging = build_estimator(BaggingConfig(base_estimator=KNNConfig(n_neighbors=2)), 0)
    assert isinstance(bagging, BaggingClassifier)
    assert bagging.estimator.n_neighbors == 2
    ada = build_estimator(AdaBoostConfig(), 0)
    assert isinstance(ada, AdaBoostClassifier)
    assert ada.estimator.max_depth == 1  # a stump, AdaBoost's classic weak learner


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.kind}")
def test_every_configured_field_reaches_the_built_estimator(config):
    """A configuration builds itself from its fields: each one (but those it declares unpassed)
    is the estimator's parameter of that name; a nested configuration becomes ``estimator``."""
    params = build_estimator(config, random_state=5).get_params(deep=False)
    for name in type(config).model_fields:
        if name == "kind" or name in config.unpassed:
            continue
        value = getattr(config, name)
        if isinstance(value, BaseModel):
            assert params["estimator"].get_params() == build_estimator(value, 5).get_params()
        else:
            assert params[name] == value, name
    if config.seeded:
        assert params["random_state"] == 5


def test_max_features_one_means_all_features_not_one():
    forest = build_estimator(RandomForestConfig.model_validate({"max_features": 1}), 0)
    assert forest.max_features == 1.0 and isinstance(forest.max_features, float)


def _error(data: dict, model: type[BaseModel] | None = None) -> str:
    with pytest.raises(ValidationError) as info:
        (model.model_validate if model else ESTIMATOR.validate_python)(data)
    return str(info.value)


@pytest.mark.parametrize(
    ("data", "fragments"),
    [
        (
            {"kind": "gradient_boosting", "criterion": "gini"},
            ["regression trees", "'friedman_mse'", "'squared_error'"],
        ),
        (
            {"kind": "adaboost", "base_estimator": {"kind": "knn"}},
            ["kNN cannot fit with sample weights", "'decision_tree' or 'svc'"],
        ),
        (
            {"kind": "random_forest", "bootstrap": False, "max_samples": 0.5},
            ["set bootstrap=true", "max_samples=null"],
        ),
        (
            {
                "kind": "bagging",
                "bootstrap": False,
                "max_samples": 1.0,
                "max_features": 1.0,
            },
            ["same data", "bootstrap=true"],
        ),
        ({"kind": "random_forest", "criteria": "gini"}, ["did you mean 'criterion'"]),
        ({"kind": "svm"}, ["did you mean 'svc'"]),
        ({"kind": "bagging", "base_estimator": {"kind": "svm"}}, ["did you mean 'svc'"]),
        ({"kind": "random_forest", "max_features": 1.5}, ["less than or equal to 1"]),
        ({"kind": "logistic_regression", "C": 0}, ["greater than 0"]),
        ({"kind": "svc", "probability": False}, ["Extra inputs are not permitted"]),
    ],
)
def test_invalid_configurations_are_rejected_with_what_to_change(data, fragments):
    message = _error(data)
    for fragment in fragments:
        assert fragment in message


def test_bagging_without_bootstrap_but_subsampling_is_accepted():
    config = ESTIMATOR.validate_python({"kind": "bagging", "bootstrap": False, "max_samples": 0.6})
    assert isinstance(config, BaggingConfig) and config.max_samples == 0.6


def test_adaboost_default_base_is_a_stump_config():
    assert AdaBoostConfig().base_estimator == DecisionTreeConfig(max_depth=1)


def test_build_estimator_refuses_unknown_configuration():
    class NotAnEstimator(BaseModel):
        kind: str = "nope"

    with pytest.raises(TypeError, match="NotAnEstimator"):
        build_estimator(NotAnEstimator(), 0)


def test_json_schema_is_a_discriminated_union_for_the_prefect_form():
    schema = ESTIMATOR.json_schema()
    assert schema["discriminator"]["propertyName"] == "kind"
    assert set(schema["discriminator"]["mapping"]) == {
        "random_forest",
        "gradient_boosting",
        "bagging",
        "adaboost",
        "logistic_regression",
        "knn",
        "svc",
        "label_spreading",
        "label_propagation",
        "self_training",
    }


def test_gradient_boosting_fits_without_the_deprecated_criterion_warning(small_digits):
    X, y = small_digits
    model = build_estimator(GradientBoostingConfig(n_estimators=5, criterion="squared_error"), 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        model.fit(X, y)
    assert model.predict_proba(X).shape == (len(X), 4)


def test_every_configuration_names_a_classifier_class_that_imports():
    from sklearn.base import ClassifierMixin

    import alflow.config.semi_supervised as semi
    import alflow.config.supervised as sup

    configs = {
        k
        for m in (sup, semi)
        for k in vars(m).values()
        if isinstance(k, type) and issubclass(k, sup.EstimatorBase) and k is not sup.EstimatorBase
    }
    assert len(configs) == 11
    for config in configs:
        assert issubclass(sup.import_class(config.sklearn_class), ClassifierMixin), config
