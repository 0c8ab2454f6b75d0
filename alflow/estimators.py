"""Typed estimator configurations and the one factory that turns them into scikit-learn models.

Each configuration is a pydantic model with a literal ``kind``; together they form the
discriminated union :data:`EstimatorConfig`, which Prefect renders as a form with one branch per
estimator. Invalid combinations are rejected by validators with a message saying what to change.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from sklearn.base import ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression


class _Estimator(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RandomForestConfig(_Estimator):
    """A random forest; robust default for embeddings and tabular features."""

    kind: Literal["random_forest"] = "random_forest"
    n_estimators: int = Field(100, ge=1, le=5000)
    max_depth: int | None = Field(None, ge=1)
    min_samples_split: int = Field(2, ge=2)
    min_samples_leaf: int = Field(1, ge=1)
    criterion: Literal["gini", "entropy", "log_loss"] = "gini"
    n_jobs: int | None = Field(None, description="Parallel jobs; None uses one core")


class LogisticRegressionConfig(_Estimator):
    """Multinomial logistic regression; fast and well calibrated on standardised features."""

    kind: Literal["logistic_regression"] = "logistic_regression"
    C: float = Field(1.0, gt=0)
    max_iter: int = Field(1000, ge=10)


EstimatorConfig = Annotated[
    RandomForestConfig | LogisticRegressionConfig,
    Field(discriminator="kind"),
]


def build_estimator(config: EstimatorConfig, random_state: int) -> ClassifierMixin:
    """A fresh, unfitted scikit-learn classifier for ``config``, seeded with ``random_state``."""
    if isinstance(config, RandomForestConfig):
        return RandomForestClassifier(
            n_estimators=config.n_estimators,
            max_depth=config.max_depth,
            min_samples_split=config.min_samples_split,
            min_samples_leaf=config.min_samples_leaf,
            criterion=config.criterion,
            n_jobs=config.n_jobs,
            random_state=random_state,
        )
    if isinstance(config, LogisticRegressionConfig):
        return LogisticRegression(C=config.C, max_iter=config.max_iter, random_state=random_state)
    raise TypeError(f"no builder for estimator configuration {type(config).__name__}")
