"""Every estimator a loop can choose, as one discriminated union, and the one factory.

:data:`EstimatorConfig` joins the supervised estimators (:mod:`alflow.supervised`) and the
semi-supervised learners (:mod:`alflow.semi_supervised`), so the loop configuration, Prefect's
form, the App's form, ``alflow simulate`` and the benchmarks offer them all from one place. Each
configuration is a pydantic model with a literal ``kind``; invalid combinations are rejected by
validators with a message saying what to change.

Every estimator exposes ``predict_proba``, because every query strategy measures uncertainty from
class probabilities.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field
from sklearn.base import ClassifierMixin

from alflow.semi_supervised import (
    SEMI_SUPERVISED_KINDS,
    LabelPropagationConfig,
    LabelSpreadingConfig,
    SelfTrainingConfig,
    build_semi_supervised,
    is_semi_supervised,
)
from alflow.supervised import (
    AdaBoostConfig,
    BaggingConfig,
    BaseEstimatorConfig,
    DecisionTreeConfig,
    GradientBoostingConfig,
    KNNConfig,
    LogisticRegressionConfig,
    ProbabilitySVC,
    RandomForestConfig,
    SupervisedEstimatorConfig,
    SVCConfig,
    build_supervised,
    hint_kind,
)

__all__ = [
    "SEMI_SUPERVISED_KINDS",
    "AdaBoostConfig",
    "BaggingConfig",
    "BaseEstimatorConfig",
    "DecisionTreeConfig",
    "EstimatorConfig",
    "GradientBoostingConfig",
    "KNNConfig",
    "LabelPropagationConfig",
    "LabelSpreadingConfig",
    "LogisticRegressionConfig",
    "ProbabilitySVC",
    "RandomForestConfig",
    "SVCConfig",
    "SelfTrainingConfig",
    "SupervisedEstimatorConfig",
    "build_estimator",
    "is_semi_supervised",
]

EstimatorConfig = Annotated[
    Annotated[
        RandomForestConfig
        | GradientBoostingConfig
        | BaggingConfig
        | AdaBoostConfig
        | LogisticRegressionConfig
        | KNNConfig
        | SVCConfig
        | LabelSpreadingConfig
        | LabelPropagationConfig
        | SelfTrainingConfig,
        Field(discriminator="kind"),
    ],
    BeforeValidator(hint_kind),
]


def build_estimator(config: EstimatorConfig, random_state: int) -> ClassifierMixin:
    """A fresh, unfitted scikit-learn classifier for ``config``, seeded with ``random_state``.

    Args:
        config: any estimator configuration (also a base estimator of Bagging or AdaBoost).
        random_state: seeds every source of randomness in the estimator, so two calls with the
            same arguments fit identical models on identical data.

    Returns:
        An unfitted classifier with ``predict_proba``; a semi-supervised one is a
        :class:`alflow.semi_supervised.SemiSupervisedClassifier` that needs its pool set first.

    Raises:
        TypeError: ``config`` is not one of the configuration classes.
    """
    if is_semi_supervised(config):
        return build_semi_supervised(config, random_state)
    return build_supervised(config, random_state)
