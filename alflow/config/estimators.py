"""Every estimator a loop can choose, as one discriminated union, and the one factory.

:data:`EstimatorConfig` joins the supervised estimators (:mod:`alflow.config.supervised`) and the
semi-supervised learners (:mod:`alflow.learning.semi_supervised`), so the loop configuration,
Prefect's form, the App's form, ``alflow simulate`` and the benchmarks offer them all from one
place. Each configuration is a pydantic model with a literal ``kind``; invalid combinations are
rejected by validators with a message saying what to change.

Every estimator exposes ``predict_proba``, because every query strategy measures uncertainty from
class probabilities.

Importing this module imports no scikit-learn (the configurations name their classes by path):
only :func:`alflow.learning.build.build_estimator` does, so commands that only read a
configuration stay fast.
"""

from __future__ import annotations

from typing import Annotated

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
    "RandomForestConfig",
    "SVCConfig",
    "SelfTrainingConfig",
    "SupervisedEstimatorConfig",
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
