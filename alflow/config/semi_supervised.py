"""Typed configurations of the semi-supervised learners (label spreading, label propagation,
self-training), apart from :mod:`alflow.learning.semi_supervised`, whose wrapper subclasses
scikit-learn: a loop's configuration validates without importing scikit-learn (see
:mod:`alflow.config.supervised`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from alflow.config.supervised import (
    EstimatorBase,
    LogisticRegressionConfig,
    SupervisedEstimatorConfig,
)

_MAX_UNLABELLED_HELP = (
    "Most unlabelled pool rows joining a fit (a random subsample, drawn with the loop's "
    "random_state); null uses the whole pool. Bounds the neighbour graph's cost on large pools"
)


class LabelSpreadingConfig(EstimatorBase):
    """Label spreading over a k-nearest-neighbour graph of labelled and unlabelled samples.

    Labels diffuse along the graph, with ``alpha`` of each sample's label replaced by its
    neighbours' every step. Neighbours are Euclidean on the loop's features: standardise
    (``features.standardize``) features whose scales differ, but not features that share one
    (pixels, embeddings), since standardising inflates rarely varying dimensions; on digits the
    graph on raw pixels needs about 40% fewer labels (docs/benchmarks.md).
    """

    sklearn_class = "sklearn.semi_supervised.LabelSpreading"
    fixed_params = {"kernel": "knn"}
    unpassed = frozenset({"max_unlabelled"})  # the wrapper's, not the model's
    seeded = False

    kind: Literal["label_spreading"] = "label_spreading"
    n_neighbors: int = Field(7, ge=1, le=200, description="Neighbours per sample in the graph")
    alpha: float = Field(
        0.2, gt=0.0, lt=1.0, description="Share of a label taken from neighbours per step"
    )
    max_iter: int = Field(30, ge=1, le=10_000, description="Diffusion steps at most")
    tol: float = Field(1e-3, gt=0.0, description="Stop when labels change less than this")
    max_unlabelled: int | None = Field(10_000, ge=0, description=_MAX_UNLABELLED_HELP)


class LabelPropagationConfig(EstimatorBase):
    """Label propagation over a kNN graph: like spreading, but labelled samples keep their label."""

    sklearn_class = "sklearn.semi_supervised.LabelPropagation"
    fixed_params = {"kernel": "knn"}
    unpassed = frozenset({"max_unlabelled"})
    seeded = False

    kind: Literal["label_propagation"] = "label_propagation"
    n_neighbors: int = Field(7, ge=1, le=200, description="Neighbours per sample in the graph")
    max_iter: int = Field(1000, ge=1, le=100_000, description="Propagation steps at most")
    tol: float = Field(1e-3, gt=0.0, description="Stop when labels change less than this")
    max_unlabelled: int | None = Field(10_000, ge=0, description=_MAX_UNLABELLED_HELP)


def _supervised_only(data: Any) -> Any:
    """Refuse a semi-supervised base estimator with the reason (pydantic would only list tags)."""
    kind = data.get("kind") if isinstance(data, dict) else getattr(data, "kind", None)
    if kind in SEMI_SUPERVISED_KINDS:
        raise ValueError(
            f"self-training wraps a supervised estimator, not {kind!r}: choose a base estimator "
            "such as 'logistic_regression' or 'random_forest', or use "
            f"{kind!r} on its own"
        )
    return data


class SelfTrainingConfig(EstimatorBase):
    """Self-training: fit the base estimator, adopt its confident pool predictions, refit."""

    sklearn_class = "sklearn.semi_supervised.SelfTrainingClassifier"
    unpassed = frozenset({"max_unlabelled"})
    seeded = False  # its base estimator is seeded

    kind: Literal["self_training"] = "self_training"
    base_estimator: Annotated[SupervisedEstimatorConfig, BeforeValidator(_supervised_only)] = Field(
        default_factory=LogisticRegressionConfig, description="A supervised estimator"
    )
    criterion: Literal["threshold", "k_best"] = Field(
        "threshold", description="Adopt predictions above 'threshold', or the 'k_best' per step"
    )
    threshold: float = Field(
        0.75, gt=0.0, lt=1.0, description="criterion 'threshold': least probability adopted"
    )
    k_best: int = Field(10, ge=1, description="criterion 'k_best': predictions adopted per step")
    max_iter: int | None = Field(10, ge=1, description="Self-training steps; null until none left")
    max_unlabelled: int | None = Field(10_000, ge=0, description=_MAX_UNLABELLED_HELP)


SEMI_SUPERVISED_KINDS = ("label_spreading", "label_propagation", "self_training")
SemiSupervisedConfig = LabelSpreadingConfig | LabelPropagationConfig | SelfTrainingConfig


def is_semi_supervised(config: Any) -> bool:
    """Whether ``config`` configures a learner that fits on the unlabelled pool too."""
    return isinstance(config, LabelSpreadingConfig | LabelPropagationConfig | SelfTrainingConfig)
