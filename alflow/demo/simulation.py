"""A label-efficiency simulation on scikit-learn's digits, in process (no FiftyOne, no Prefect).

The loop is the real one in miniature: :func:`alflow.learning.learners.fit_learner` on the initial
labels, then rounds of :func:`alflow.learning.learners.select_batch` (the strategy the learner was
built with) and
:func:`alflow.learning.learners.teach` with the oracle's labels, scoring the learner on a held-out
test split after every round. Benchmarks and ``alflow simulate`` call :func:`simulate`.

Setup (fixed, so runs are comparable):

* digits (1,797 8x8 images, 10 classes), a stratified 70/30 pool/test split drawn from ``seed``;
* one initial label per class, drawn from the pool with ``seed``; they count toward the budget;
* ``rf``: ``RandomForestClassifier(n_estimators=100, random_state=seed)`` on raw pixel values
  (0-16; trees do not care about scale, and raw pixels keep distance-based strategies'
  geometry honest, where standardising would inflate rarely-inked border pixels);
* ``lr``: ``LogisticRegression`` (alflow's defaults: C=1, max_iter=1000) on pixels standardised
  with the pool's mean and deviation (unsupervised, so fitting on the pool leaks no labels);
* the semi-supervised learners (:mod:`alflow.learning.semi_supervised`), on the same standardised
  pixels, learning from the unlabelled pool (never from the test split, as the loop never learns
  from its held-out samples): ``ls`` label spreading and ``lp`` label propagation over a kNN graph,
  and ``st`` self-training around the ``lr`` model. Their hyperparameters are
  :data:`SEMI_SUPERVISED`, chosen on the benchmark's tuning seeds;
* ``lsr``: the same label spreading on *raw* pixels (a loop with ``features.standardize`` off).
  Pixels share one scale, and standardising divides a rarely inked border pixel by its tiny
  deviation, so a stray stroke there moves a sample's Euclidean neighbours as much as the
  digit's shape does; on the tuning seeds the raw-pixel graph needed about 40% fewer labels to
  reach 95% (:data:`RAW_PIXELS`; see docs/benchmarks.md).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from alflow.config.estimators import (
    EstimatorConfig,
    LabelPropagationConfig,
    LabelSpreadingConfig,
    LogisticRegressionConfig,
    RandomForestConfig,
    SelfTrainingConfig,
)
from alflow.errors import AlflowError, ConfigError
from alflow.learning.learners import fit_learner, predict, select_batch, teach
from alflow.learning.seeds import round_seed
from alflow.learning.semi_supervised import array_pool
from alflow.loop.reports import curve_rows
from alflow.state.ledger import Ledger
from alflow.strategies import DEFAULT_STRATEGY, get_strategy

EstimatorName = Literal["rf", "lr", "ls", "lp", "st", "lsr"]
ESTIMATOR_NAMES: tuple[str, ...] = EstimatorName.__args__
THRESHOLDS = (0.90, 0.95)
# The simulations that see the pixels as they are (0-16); every other one sees them standardised.
RAW_PIXELS: frozenset[str] = frozenset({"rf", "lsr"})
# Chosen on the benchmark's tuning seeds (benchmarks/label_efficiency.py; see docs/benchmarks.md).
SEMI_SUPERVISED: dict[str, EstimatorConfig] = {
    "ls": LabelSpreadingConfig(n_neighbors=7, alpha=0.2),
    # 5, 6, 8 or 10 neighbours and alpha 0.5 or 0.8 did no better on raw pixels (tuning seeds)
    "lsr": LabelSpreadingConfig(n_neighbors=7, alpha=0.2),
    "lp": LabelPropagationConfig(n_neighbors=7),
    "st": SelfTrainingConfig(base_estimator=LogisticRegressionConfig(), threshold=0.9, max_iter=5),
}


def estimator_config(estimator: EstimatorName) -> EstimatorConfig:
    """The estimator configuration a simulation with ``estimator`` uses."""
    if estimator == "rf":
        return RandomForestConfig(n_estimators=100)
    if estimator == "lr":
        return LogisticRegressionConfig()
    if estimator in SEMI_SUPERVISED:
        return SEMI_SUPERVISED[estimator]
    raise ConfigError(
        f"unknown estimator {estimator!r}; choose one of {', '.join(ESTIMATOR_NAMES)}"
    )


def digits_split(
    seed: int, estimator: EstimatorName
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pool and test features and labels (class names) for ``seed``; see the module docstring."""
    X, y = load_digits(return_X_y=True)
    X_pool, X_test, y_pool, y_test = train_test_split(
        X, y.astype(str), test_size=0.3, stratify=y, random_state=seed
    )
    if estimator not in RAW_PIXELS:
        scaler = StandardScaler().fit(X_pool)
        X_pool, X_test = scaler.transform(X_pool), scaler.transform(X_test)
    # float32, as the loop's feature cache holds them: distance-based strategies then see
    # exactly the values the real flows see
    return X_pool.astype(np.float32), X_test.astype(np.float32), y_pool, y_test


def initial_labels(y_pool: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One pool index per class, drawn with ``rng``."""
    return np.asarray([rng.choice(np.flatnonzero(y_pool == c)) for c in np.unique(y_pool)])


def labels_to(curve: list[list[float]], threshold: float, budget: int, batch: int) -> int:
    """The first labelled count whose test accuracy reaches ``threshold``.

    A run that never reaches it within the budget counts as ``budget + batch``: one batch
    beyond anything it was allowed to spend, so the mean is not flattered by failures.
    """
    for labelled, accuracy in curve:
        if accuracy >= threshold:
            return int(labelled)
    return budget + batch


def _check_arguments(budget: int, batch: int, n_initial: int) -> None:
    if batch < 1:
        raise ConfigError(f"batch must be at least 1, got {batch}")
    if budget < n_initial:
        raise ConfigError(
            f"budget {budget} is below the {n_initial} initial labels (one per class); "
            f"raise budget to at least {n_initial}"
        )


def simulate(
    strategy: str | None,
    estimator: EstimatorName,
    seed: int,
    budget: int = 300,
    batch: int = 10,
) -> dict[str, Any]:
    """Run one active-learning simulation on digits and return its learning curve.

    Args:
        strategy: a registered strategy name; ``None`` uses :data:`DEFAULT_STRATEGY`.
        estimator: one of :data:`ESTIMATOR_NAMES` (see the module docstring).
        seed: seeds the split, the initial labels, the estimator and every query.
        budget: total labels, the initial ones included.
        batch: labels queried per round (the last round may be smaller to meet the budget).

    Returns:
        ``strategy``, ``estimator``, ``seed``, ``budget``, ``batch``, ``learning_curve`` (a list
        of ``[labelled_count, test_accuracy]`` after the initial fit and every round),
        ``labels_to_90`` and ``labels_to_95``.

    Raises:
        ConfigError: unknown strategy or estimator, batch below 1, or budget below 10.
    """
    name = strategy or DEFAULT_STRATEGY
    get_strategy(name)  # fail fast on an unknown name
    config = estimator_config(estimator)
    X_pool, X_test, y_pool, y_test = digits_split(seed, estimator)
    rng = np.random.default_rng(seed)
    labelled = np.sort(initial_labels(y_pool, rng))  # pool order, as a dataset would hold it
    _check_arguments(budget, batch, len(labelled))
    ids = [str(i) for i in range(len(y_pool))]
    state = fit_learner(
        config,
        name,
        X_pool[labelled],
        y_pool[labelled],
        [ids[i] for i in labelled],
        random_state=seed,
        unlabelled=array_pool(X_pool, ids),  # the test split is held out: never in the pool
    )
    curve = [[len(labelled), _accuracy(state, X_test, y_test)]]
    unlabelled = np.setdiff1d(np.arange(len(y_pool)), labelled)
    round_number = 0
    while curve[-1][0] < budget:
        round_number += 1
        n = min(batch, budget - curve[-1][0])
        picked, _ = select_batch(state, X_pool[unlabelled], n, round_seed(seed, round_number))
        chosen = unlabelled[np.asarray(picked, dtype=int)]
        if len(np.unique(chosen)) != n:
            raise AlflowError(
                f"strategy {name!r} returned {len(np.unique(chosen))} distinct samples for a "
                f"batch of {n}; a strategy must return distinct pool positions"
            )
        teach(state, X_pool[chosen], y_pool[chosen], [ids[i] for i in chosen])
        unlabelled = np.setdiff1d(unlabelled, chosen)
        curve.append([state.n_labels, _accuracy(state, X_test, y_test)])
    result: dict[str, Any] = {
        "strategy": name,
        "estimator": estimator,
        "seed": seed,
        "budget": budget,
        "batch": batch,
        "learning_curve": curve,
    }
    return {**result, **labels_to_thresholds(curve, budget, batch)}


def labels_to_thresholds(curve: list[list[float]], budget: int, batch: int) -> dict[str, int]:
    """``labels_to_90`` and ``labels_to_95``: :func:`labels_to` each of :data:`THRESHOLDS`."""
    return {
        f"labels_to_{round(threshold * 100)}": labels_to(curve, threshold, budget, batch)
        for threshold in THRESHOLDS
    }


def flow_result(ledger: Ledger, loop: str, budget: int, batch: int) -> dict[str, Any]:
    """The learning curve and labels-to-threshold figures of a simulation run as a loop
    (``flows/simulate.py``), read from its ledger; the same keys as :func:`simulate`'s."""
    curve = [[r["labelled"], r["accuracy"]] for r in curve_rows(ledger.rounds(loop))]
    return {"loop": loop, "learning_curve": curve, **labels_to_thresholds(curve, budget, batch)}


def _accuracy(state, X_test: np.ndarray, y_test: np.ndarray) -> float:
    predicted, _ = predict(state, X_test)
    return float(np.mean(predicted == y_test))
