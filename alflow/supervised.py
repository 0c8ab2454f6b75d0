"""Typed configurations of the supervised estimators, and their scikit-learn builders.

Each configuration is a pydantic model with a literal ``kind``; together they form the
discriminated union :data:`SupervisedEstimatorConfig` (joined with the semi-supervised learners
into :data:`alflow.estimators.EstimatorConfig`, which Prefect renders as a form with one branch per
estimator). Invalid combinations are rejected by validators with a message saying what to change,
so a loop never reaches its first fit with a model scikit-learn would refuse.

Every estimator exposes ``predict_proba``, because every query strategy measures uncertainty from
class probabilities: SVC is always built with probability estimates.
"""

from __future__ import annotations

import warnings
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from sklearn.base import ClassifierMixin
from sklearn.ensemble import (
    AdaBoostClassifier,
    BaggingClassifier,
    GradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

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


class EstimatorBase(BaseModel):
    """Common behaviour: unknown fields are errors, and familiar misspellings get a hint."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _hint_misspellings(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for wrong, right in _MISSPELLINGS.items():
                if wrong in data and right in cls.model_fields:
                    raise ValueError(f"unknown field {wrong!r}: did you mean {right!r}?")
        return data


# --------------------------------------------------------------------------------------------
# Single models (usable directly, and as the base estimator of Bagging and AdaBoost)
# --------------------------------------------------------------------------------------------


class DecisionTreeConfig(EstimatorBase):
    """One decision tree; used as the base estimator of Bagging and AdaBoost."""

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

    kind: Literal["svc"] = "svc"
    C: float = Field(1.0, gt=0, description="Inverse regularisation strength")
    kernel: Literal["rbf", "linear", "poly", "sigmoid"] = "rbf"
    gamma: Literal["scale", "auto"] | Annotated[float, Field(gt=0)] = "scale"


class LogisticRegressionConfig(EstimatorBase):
    """Multinomial logistic regression; fast and well calibrated on standardised features."""

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
# Builders
# --------------------------------------------------------------------------------------------


class ProbabilitySVC(SVC):
    """``SVC(probability=True)`` that fits without scikit-learn 1.9's deprecation warning.

    scikit-learn 1.9 deprecates ``probability=True`` in favour of
    ``CalibratedClassifierCV(SVC(), ensemble=False)``, whose stratified cross-validation needs
    at least two (by default five) labels of every class; an active-learning loop starts with
    one. libsvm's internal Platt scaling copes, so alflow keeps it (until scikit-learn 1.11,
    which ``pyproject.toml`` excludes) and silences only that one warning.
    """

    def fit(self, X, y, sample_weight=None):
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="The `probability` parameter", category=FutureWarning
            )
            return super().fit(X, y, sample_weight=sample_weight)


def _max_features(value: str | float | None) -> str | float | None:
    # sklearn reads the int 1 as "one feature" but the float 1.0 as "all": keep it a float.
    return float(value) if isinstance(value, int | float) else value


def _tree(config: DecisionTreeConfig, random_state: int) -> DecisionTreeClassifier:
    return DecisionTreeClassifier(
        max_depth=config.max_depth,
        min_samples_split=config.min_samples_split,
        min_samples_leaf=config.min_samples_leaf,
        criterion=config.criterion,
        max_leaf_nodes=config.max_leaf_nodes,
        max_features=_max_features(config.max_features),
        random_state=random_state,
    )


def _knn(config: KNNConfig, random_state: int) -> KNeighborsClassifier:
    return KNeighborsClassifier(n_neighbors=config.n_neighbors, weights=config.weights)


def _svc(config: SVCConfig, random_state: int) -> SVC:
    return ProbabilitySVC(
        C=config.C,
        kernel=config.kernel,
        gamma=config.gamma,
        probability=True,
        random_state=random_state,
    )


def _logistic(config: LogisticRegressionConfig, random_state: int) -> LogisticRegression:
    return LogisticRegression(C=config.C, max_iter=config.max_iter, random_state=random_state)


def _forest(config: RandomForestConfig, random_state: int) -> RandomForestClassifier:
    return RandomForestClassifier(
        n_estimators=config.n_estimators,
        max_depth=config.max_depth,
        min_samples_split=config.min_samples_split,
        min_samples_leaf=config.min_samples_leaf,
        criterion=config.criterion,
        max_leaf_nodes=config.max_leaf_nodes,
        max_features=_max_features(config.max_features),
        bootstrap=config.bootstrap,
        max_samples=config.max_samples,
        n_jobs=config.n_jobs,
        random_state=random_state,
    )


def _boosting(config: GradientBoostingConfig, random_state: int) -> GradientBoostingClassifier:
    return GradientBoostingClassifier(
        loss="log_loss",
        n_estimators=config.n_estimators,
        learning_rate=config.learning_rate,
        subsample=config.subsample,
        max_depth=config.max_depth,
        min_samples_split=config.min_samples_split,
        min_samples_leaf=config.min_samples_leaf,
        max_leaf_nodes=config.max_leaf_nodes,
        max_features=_max_features(config.max_features),
        # config.criterion is not passed on: scikit-learn 1.9 ignores it (its gradient trees
        # always split on squared error) and warns that it is deprecated.
        random_state=random_state,
    )


def _bagging(config: BaggingConfig, random_state: int) -> BaggingClassifier:
    return BaggingClassifier(
        estimator=build_supervised(config.base_estimator, random_state),
        n_estimators=config.n_estimators,
        max_samples=config.max_samples,
        max_features=config.max_features,
        bootstrap=config.bootstrap,
        bootstrap_features=config.bootstrap_features,
        n_jobs=config.n_jobs,
        random_state=random_state,
    )


def _adaboost(config: AdaBoostConfig, random_state: int) -> AdaBoostClassifier:
    return AdaBoostClassifier(
        estimator=build_supervised(config.base_estimator, random_state),
        n_estimators=config.n_estimators,
        learning_rate=config.learning_rate,
        random_state=random_state,
    )


_BUILDERS = {
    DecisionTreeConfig: _tree,
    KNNConfig: _knn,
    SVCConfig: _svc,
    LogisticRegressionConfig: _logistic,
    RandomForestConfig: _forest,
    GradientBoostingConfig: _boosting,
    BaggingConfig: _bagging,
    AdaBoostConfig: _adaboost,
}


def build_supervised(config: SupervisedEstimatorConfig, random_state: int) -> ClassifierMixin:
    """A fresh, unfitted scikit-learn classifier for ``config``, seeded with ``random_state``.

    Args:
        config: any estimator configuration (also a base estimator of Bagging or AdaBoost).
        random_state: seeds every source of randomness in the estimator, so two calls with the
            same arguments fit identical models on identical data.

    Returns:
        An unfitted classifier with ``predict_proba``.

    Raises:
        TypeError: ``config`` is not one of the configuration classes of this module.
    """
    builder = _BUILDERS.get(type(config))
    if builder is None:
        raise TypeError(f"no builder for estimator configuration {type(config).__name__}")
    return builder(config, random_state)
