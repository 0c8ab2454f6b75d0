"""Every estimator a loop can choose, as one discriminated union, and the one factory.

:data:`EstimatorConfig` joins the supervised estimators (:mod:`alflow.config.supervised`) and the
semi-supervised learners (:mod:`alflow.learning.semi_supervised`), so the loop configuration,
Prefect's form, the App's form, ``alflow simulate`` and the benchmarks offer them all from one
place. Each configuration is a pydantic model with a literal ``kind``; invalid combinations are
rejected by validators with a message saying what to change.

Every estimator exposes ``predict_proba``, because every query strategy measures uncertainty from
class probabilities.

Importing this module imports no scikit-learn (the configurations name their classes by path):
only :func:`build_estimator` does, so commands that only read a configuration stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import BeforeValidator, Field

from alflow.config.semi_supervised import (
    SEMI_SUPERVISED_KINDS,
    LabelPropagationConfig,
    LabelSpreadingConfig,
    SelfTrainingConfig,
    is_semi_supervised,
)
from alflow.config.supervised import (
    AdaBoostConfig,
    BaggingConfig,
    BaseEstimatorConfig,
    DecisionTreeConfig,
    GradientBoostingConfig,
    KNNConfig,
    LogisticRegressionConfig,
    RandomForestConfig,
    SupervisedEstimatorConfig,
    SVCConfig,
    build_supervised,
    hint_kind,
)

if TYPE_CHECKING:
    from sklearn.base import ClassifierMixin

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
        :class:`alflow.learning.semi_supervised.SemiSupervisedClassifier` that needs its pool set
        first.

    Raises:
        TypeError: ``config`` is not one of the configuration classes.
    """
    if is_semi_supervised(config):
        from alflow.learning.semi_supervised import build_semi_supervised

        return build_semi_supervised(config, random_state)
    return build_supervised(config, random_state)
