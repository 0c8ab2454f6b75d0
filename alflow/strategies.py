"""Query strategies: a *measure* of informativeness plus a *selector* of a batch.

Every strategy has modAL's signature, so it can be passed as an ``ActiveLearner``'s
``query_strategy``::

    strategy(classifier, X_pool, n_instances=1, random_state=None) -> (indices, scores)

``indices`` are positions in ``X_pool`` (never samples), best first; ``scores`` are the measure
for those positions (higher = more informative). Randomness only comes from ``random_state``.
The round loop removes labelled, held-out and queued samples from the pool before calling a
strategy, so strategies never see them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from alflow.errors import ConfigError, PoolExhaustedError

Strategy = Callable[..., tuple[np.ndarray, np.ndarray]]
StrategyName = Literal["margin", "least_confident", "entropy", "random"]
DEFAULT_STRATEGY: StrategyName = "margin"


class StrategyConfig(BaseModel):
    """Which strategy selects each batch."""

    model_config = ConfigDict(extra="forbid")
    name: StrategyName = Field(DEFAULT_STRATEGY, description="Query strategy")


def _rng(random_state: int | np.random.Generator | None) -> np.random.Generator:
    return random_state if isinstance(random_state, np.random.Generator) else (
        np.random.default_rng(random_state)
    )


def check_pool(n_pool: int, n_instances: int) -> None:
    """Raise PoolExhaustedError when the pool cannot fill the batch."""
    if n_instances < 1:
        raise ConfigError(f"n_instances must be at least 1, got {n_instances}")
    if n_pool < n_instances:
        raise PoolExhaustedError(
            f"pool exhausted: {n_pool} unlabelled samples left, {n_instances} requested; "
            "lower batch_size or add samples"
        )


def margin_measure(proba: np.ndarray) -> np.ndarray:
    """1 minus the gap between the two most probable classes (higher = less sure)."""
    if proba.shape[1] < 2:
        return np.zeros(proba.shape[0])
    top2 = -np.partition(-proba, 1, axis=1)[:, :2]
    return 1.0 - (top2[:, 0] - top2[:, 1])


def least_confident_measure(proba: np.ndarray) -> np.ndarray:
    """1 minus the probability of the most likely class."""
    return 1.0 - proba.max(axis=1)


def entropy_measure(proba: np.ndarray) -> np.ndarray:
    """Shannon entropy of the predicted class distribution."""
    p = np.clip(proba, 1e-12, 1.0)
    return -(p * np.log(p)).sum(axis=1)


def top_k(scores: np.ndarray, n_instances: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of the ``n_instances`` highest scores; ties broken by ``rng``, not by position."""
    jitter = rng.random(scores.shape[0])
    order = np.lexsort((jitter, -scores))
    return order[:n_instances]


def _uncertainty(measure: Callable[[np.ndarray], np.ndarray]) -> Strategy:
    def strategy(classifier, X_pool, n_instances: int = 1, random_state=None, **_):
        check_pool(len(X_pool), n_instances)
        scores = measure(classifier.predict_proba(X_pool))
        idx = top_k(scores, n_instances, _rng(random_state))
        return idx, scores[idx]

    strategy.__name__ = f"{measure.__name__.removesuffix('_measure')}_sampling"
    strategy.__doc__ = f"Pick the samples with the highest {measure.__name__}."
    return strategy


margin_sampling = _uncertainty(margin_measure)
least_confident_sampling = _uncertainty(least_confident_measure)
entropy_sampling = _uncertainty(entropy_measure)


def random_sampling(classifier, X_pool, n_instances: int = 1, random_state=None, **_):
    """Uniformly random samples: the baseline every strategy must beat."""
    check_pool(len(X_pool), n_instances)
    idx = _rng(random_state).choice(len(X_pool), size=n_instances, replace=False)
    return idx, np.zeros(n_instances)


STRATEGIES: dict[str, Strategy] = {
    "margin": margin_sampling,
    "least_confident": least_confident_sampling,
    "entropy": entropy_sampling,
    "random": random_sampling,
}
COLD_START_STRATEGIES: frozenset[str] = frozenset()


def get_strategy(name: str) -> Strategy:
    """The strategy registered as ``name``."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ConfigError(
            f"unknown strategy {name!r}; choose one of {', '.join(sorted(STRATEGIES))}"
        ) from None
