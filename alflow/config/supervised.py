"""Typed configurations of the supervised estimators, each building its scikit-learn model.

Each configuration is a pydantic model with a literal ``kind``; together they form the
discriminated union :data:`SupervisedEstimatorConfig` (joined with the semi-supervised learners
into :data:`alflow.config.estimators.EstimatorConfig`, which Prefect renders as a form with one
branch per estimator). Invalid combinations are rejected by validators with a message saying what to
change, so a loop never reaches its first fit with a model scikit-learn would refuse.

Every estimator exposes ``predict_proba``, because every query strategy measures uncertainty from
class probabilities: SVC is always built with probability estimates.

Nothing here imports scikit-learn: a configuration names its class as a dotted path that
:meth:`EstimatorBase.build` imports, so reading or validating a loop's configuration (every CLI
command does) costs no scikit-learn import (several seconds on a loaded machine).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

if TYPE_CHECKING:
    from sklearn.base import ClassifierMixin

# Names the seed plugin (and people used to it) write, and what alflow calls them.
_MISSPELLINGS = {"criteria": "criterion", "n_estimator": "n_estimators", "base": "base_estimator"}
_KIND_ALIASES = {
    "svm": "svc",
    "rf": "random_forest",
    "lr": "logistic_regression",
    "gb": "gradient_boosting",
    "ada_boost": "adaboost",
    "kneighbors": "knn",
}

Fraction = Annotated[float, Field(gt=0.0, le=1.0)]
MaxFeatures = Literal["sqrt", "log2"] | Fraction | None
_MAX_FEATURES_HELP = (
    "Features tried per split: 'sqrt', 'log2', a fraction in (0, 1], or null for all. "
    "A fraction, never a count, so 1 means all features"
)


def _max_features(value: str | float | None) -> str | float | None:
    # sklearn reads the int 1 as "one feature" but the float 1.0 as "all": keep it a float.
    return float(value) if isinstance(value, int | float) else value


class EstimatorBase(BaseModel):
    """Common behaviour: unknown fields are errors, familiar misspellings get a hint, and a
    configuration builds its own scikit-learn estimator (:meth:`build`).

    A subclass names the class it builds in ``sklearn_class`` (a dotted path, imported by
    :meth:`build`). Every field but ``kind`` is passed
    to it under its own name, except those in ``unpassed``; a nested estimator configuration is
    built and passed as ``estimator``; ``fixed_params`` are parameters alflow always sets; and
    ``random_state`` is passed unless ``seeded`` is false. A new field is therefore a new
    parameter with no builder to update.
    """

    model_config = ConfigDict(extra="forbid")
    sklearn_class: ClassVar[str]
    fixed_params: ClassVar[dict[str, Any]] = {}
    unpassed: ClassVar[frozenset[str]] = frozenset()
    seeded: ClassVar[bool] = True

    @model_validator(mode="before")
    @classmethod
    def _hint_misspellings(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for wrong, right in _MISSPELLINGS.items():
                if wrong in data and right in cls.model_fields:
                    raise ValueError(f"unknown field {wrong!r}: did you mean {right!r}?")
        return data

    def build(self, random_state: int) -> ClassifierMixin:
        """A fresh, unfitted estimator for this configuration, seeded with ``random_state``."""
        params = dict(self.fixed_params)
        for name in type(self).model_fields:
            if name == "kind" or name in self.unpassed:
                continue
            value = getattr(self, name)
            if isinstance(value, EstimatorBase):
                params["estimator"] = value.build(random_state)
            else:
                params[name] = _max_features(value) if name == "max_features" else value
        if self.seeded:
            params["random_state"] = random_state
        return import_class(self.sklearn_class)(**params)


def import_class(path: str) -> type[ClassifierMixin]:
    """The class at dotted ``path`` (``"sklearn.svm.SVC"``), imported now."""
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


# --------------------------------------------------------------------------------------------
# Single models (usable directly, and as the base estimator of Bagging and AdaBoost)
# --------------------------------------------------------------------------------------------


class DecisionTreeConfig(EstimatorBase):
    """One decision tree; used as the base estimator of Bagging and AdaBoost."""

    sklearn_class = "sklearn.tree.DecisionTreeClassifier"

    kind: Literal["decision_tree"] = "decision_tree"
    max_depth: int | None = Field(None, ge=1, description="Maximum depth; null grows fully")
    min_samples_split: int = Field(2, ge=2)
    min_samples_leaf: int = Field(1, ge=1)
    criterion: Literal["gini", "entropy", "log_loss"] = "gini"
    max_leaf_nodes: int | None = Field(None, ge=2)
    max_features: MaxFeatures = Field(None, description=_MAX_FEATURES_HELP)


class KNNConfig(EstimatorBase):
    """k nearest neighbours; probabilities are neighbour vote shares.

    Needs at least ``n_neighbors`` labelled samples before it can predict.
    """

    sklearn_class = "sklearn.neighbors.KNeighborsClassifier"
    seeded = False  # deterministic: no random_state parameter

    kind: Literal["knn"] = "knn"
    n_neighbors: int = Field(5, ge=1, description="Neighbours that vote")
    weights: Literal["uniform", "distance"] = Field(
        "uniform", description="'distance' lets closer neighbours count more"
    )


class SVCConfig(EstimatorBase):
    """A support-vector classifier with Platt-scaled probabilities (always on).

    libsvm fits the probability model by internal cross-validation, so probabilities are poor
    until every class has a handful of labels; ``predict`` uses them, so expect a slow start.
    """

    sklearn_class = "alflow.learning.probability_svc.ProbabilitySVC"
    fixed_params = {"probability": True}

    kind: Literal["svc"] = "svc"
    C: float = Field(1.0, gt=0, description="Inverse regularisation strength")
    kernel: Literal["rbf", "linear", "poly", "sigmoid"] = "rbf"
    gamma: Literal["scale", "auto"] | Annotated[float, Field(gt=0)] = "scale"


class LogisticRegressionConfig(EstimatorBase):
    """Multinomial logistic regression; fast and well calibrated on standardised features."""

    sklearn_class = "sklearn.linear_model.LogisticRegression"

    kind: Literal["logistic_regression"] = "logistic_regression"
    C: float = Field(1.0, gt=0, description="Inverse regularisation strength")
    max_iter: int = Field(1000, ge=10)


def hint_kind(data: Any) -> Any:
    """Reject a familiar alias of ``kind`` with the name alflow uses (never guess silently)."""
    if isinstance(data, dict):
        kind = data.get("kind")
        if isinstance(kind, str) and kind.lower() in _KIND_ALIASES:
            raise ValueError(
                f"unknown estimator kind {kind!r}: did you mean {_KIND_ALIASES[kind.lower()]!r}?"
            )
    return data


BaseEstimatorConfig = Annotated[
    Annotated[DecisionTreeConfig | KNNConfig | SVCConfig, Field(discriminator="kind")],
    BeforeValidator(hint_kind),
]


# --------------------------------------------------------------------------------------------
# Ensembles
# --------------------------------------------------------------------------------------------


class RandomForestConfig(EstimatorBase):
    """A random forest; robust default for embeddings and tabular features."""

    sklearn_class = "sklearn.ensemble.RandomForestClassifier"

    kind: Literal["random_forest"] = "random_forest"
    n_estimators: int = Field(100, ge=1, le=5000)
    max_depth: int | None = Field(None, ge=1)
    min_samples_split: int = Field(2, ge=2)
    min_samples_leaf: int = Field(1, ge=1)
    criterion: Literal["gini", "entropy", "log_loss"] = "gini"
    max_leaf_nodes: int | None = Field(None, ge=2)
    max_features: MaxFeatures = Field("sqrt", description=_MAX_FEATURES_HELP)
    bootstrap: bool = Field(True, description="Grow each tree on a bootstrap sample")
    max_samples: Fraction | None = Field(
        None, description="Share of samples drawn per tree (needs bootstrap); null for all"
    )
    n_jobs: int | None = Field(None, description="Parallel jobs; None uses one core")

    @model_validator(mode="after")
    def _max_samples_needs_bootstrap(self) -> RandomForestConfig:
        if self.max_samples is not None and not self.bootstrap:
            raise ValueError(
                f"max_samples={self.max_samples} only applies to bootstrap samples: set "
                "bootstrap=true, or max_samples=null to grow every tree on all samples"
            )
        return self


class GradientBoostingConfig(EstimatorBase):
    """Gradient-boosted regression trees on the log-loss; strong but sequential (slow to fit)."""

    sklearn_class = "sklearn.ensemble.GradientBoostingClassifier"
    fixed_params = {"loss": "log_loss"}
    # scikit-learn 1.9 ignores criterion (its gradient trees always split on squared error)
    # and warns that it is deprecated, so it is not passed on
    unpassed = frozenset({"criterion"})

    kind: Literal["gradient_boosting"] = "gradient_boosting"
    n_estimators: int = Field(100, ge=1, le=5000, description="Boosting stages")
    learning_rate: float = Field(0.1, gt=0, description="Shrinks each stage's contribution")
    subsample: Fraction = Field(1.0, description="Share of samples per stage; <1 is stochastic")
    max_depth: int | None = Field(3, ge=1)
    min_samples_split: int = Field(2, ge=2)
    min_samples_leaf: int = Field(1, ge=1)
    max_leaf_nodes: int | None = Field(None, ge=2)
    max_features: MaxFeatures = Field(None, description=_MAX_FEATURES_HELP)
    criterion: Literal["friedman_mse", "squared_error"] = Field(
        "friedman_mse",
        description=(
            "Accepted for older configurations only: scikit-learn 1.9 always splits the "
            "gradient trees on squared error and deprecates this parameter"
        ),
    )

    @field_validator("criterion", mode="before")
    @classmethod
    def _regression_criterion(cls, value: Any) -> Any:
        if value in ("gini", "entropy", "log_loss"):
            raise ValueError(
                f"gradient boosting fits regression trees to gradients, so criterion {value!r} "
                "(a classification criterion) does not apply: use 'friedman_mse' or "
                "'squared_error'"
            )
        return value


class BaggingConfig(EstimatorBase):
    """Bagging of a base estimator over random subsets of samples and/or features."""

    sklearn_class = "sklearn.ensemble.BaggingClassifier"

    kind: Literal["bagging"] = "bagging"
    base_estimator: BaseEstimatorConfig = Field(default_factory=DecisionTreeConfig)
    n_estimators: int = Field(10, ge=1, le=5000)
    max_samples: Fraction = Field(1.0, description="Share of samples drawn per member")
    max_features: Fraction = Field(1.0, description="Share of features drawn per member")
    bootstrap: bool = Field(True, description="Draw samples with replacement")
    bootstrap_features: bool = Field(False, description="Draw features with replacement")
    n_jobs: int | None = Field(None, description="Parallel jobs; None uses one core")

    @model_validator(mode="after")
    def _members_differ(self) -> BaggingConfig:
        # Without any resampling every member sees the same data; with a deterministic base
        # (kNN, SVC) they are identical, and the "ensemble" only costs n_estimators times more.
        resamples = (
            self.bootstrap
            or self.bootstrap_features
            or self.max_samples < 1.0
            or self.max_features < 1.0
        )
        if not resamples and self.n_estimators > 1:
            raise ValueError(
                "bagging with bootstrap=false, bootstrap_features=false, max_samples=1 and "
                "max_features=1 trains every member on the same data: set bootstrap=true, "
                "or max_samples or max_features below 1"
            )
        return self


class AdaBoostConfig(EstimatorBase):
    """AdaBoost (SAMME) over decision stumps by default, or over trees or SVCs."""

    sklearn_class = "sklearn.ensemble.AdaBoostClassifier"

    kind: Literal["adaboost"] = "adaboost"
    base_estimator: BaseEstimatorConfig = Field(
        default_factory=lambda: DecisionTreeConfig(max_depth=1),
        description="Weak learner; must accept sample weights (a tree or an SVC, not kNN)",
    )
    n_estimators: int = Field(50, ge=1, le=5000, description="Boosting stages")
    learning_rate: float = Field(1.0, gt=0, description="Shrinks each stage's weight")

    @model_validator(mode="after")
    def _base_takes_sample_weight(self) -> AdaBoostConfig:
        if isinstance(self.base_estimator, KNNConfig):
            raise ValueError(
                "AdaBoost reweights samples at every stage, and kNN cannot fit with sample "
                "weights: choose base_estimator kind 'decision_tree' or 'svc', or use "
                "'bagging' to ensemble kNN"
            )
        return self


SupervisedEstimatorConfig = Annotated[
    Annotated[
        RandomForestConfig
        | GradientBoostingConfig
        | BaggingConfig
        | AdaBoostConfig
        | LogisticRegressionConfig
        | KNNConfig
        | SVCConfig,
        Field(discriminator="kind"),
    ],
    BeforeValidator(hint_kind),
]


# --------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------


_SUPERVISED = (
    DecisionTreeConfig,
    KNNConfig,
    SVCConfig,
    LogisticRegressionConfig,
    RandomForestConfig,
    GradientBoostingConfig,
    BaggingConfig,
    AdaBoostConfig,
)


def build_supervised(config: SupervisedEstimatorConfig, random_state: int) -> ClassifierMixin:
    """The supervised case of :func:`alflow.config.estimators.build_estimator` (also a base
    estimator of Bagging, AdaBoost or self-training); TypeError for a configuration not of this
    module."""
    if not isinstance(config, _SUPERVISED):
        raise TypeError(f"no builder for estimator configuration {type(config).__name__}")
    return config.build(random_state)
