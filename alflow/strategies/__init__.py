"""Query strategies: a *measure* of informativeness plus a *selector* of a batch.

Every strategy has modAL's signature, so it can be an ``ActiveLearner``'s (or a ``Committee``'s)
``query_strategy``, and alflow calls it directly (:func:`alflow.learning.learners.select_batch`)::

    strategy(classifier, X_pool, n_instances=1, random_state=None, **params) -> (indices, scores)

``indices`` are distinct positions in ``X_pool`` (never samples), in the strategy's order of
preference (highest score first for the top-k strategies); ``scores`` are the measure at those
positions (higher = more informative). Randomness only comes from ``random_state`` (an int or a
``np.random.Generator``), so a strategy called twice with the same arguments returns the same
batch. The round loop removes labelled, held-out and queued samples from the pool before calling
a strategy, so strategies never see them; a strategy that needs the labelled samples (to cover
what they do not) reads them from the learner's ``X_training``. ``X_pool`` may be a memory-mapped
million-row array: no strategy copies it whole or builds a pool-sized square or
pool x classes x dim array.

Families:

* uncertainty of one model: ``least_confident``, ``margin``, ``entropy``, and modAL's
  ``ranked_batch`` (uncertainty traded against distance to what is labelled);
* disagreement of a committee (needs a modAL ``Committee``, which
  :func:`alflow.learning.learners.fit_learner` builds for :data:`COMMITTEE_STRATEGIES`):
  ``vote_entropy``, ``consensus_entropy``, ``max_disagreement``;
* diversity-aware batches: ``diverse_margin`` (the most uncertain samples, spread over k-means
  clusters) and ``badge`` (k-means++ seeding on gradient embeddings);
* cold start (no model needed, :data:`COLD_START_STRATEGIES`): ``typiclust`` (the most typical
  sample of each uncovered k-means cluster), and ``typiclust_margin``, which covers the data that
  way while the labels are few and then switches to ``diverse_margin``;
* ``random``: the baseline every strategy must beat.

The rooms: :mod:`~alflow.config.strategy_names` (names and families), :mod:`~.pool` (checks, chunked
probabilities, the learner's labels), :mod:`~.measures`, :mod:`~.selectors`, :mod:`~.ranked`
(ranked batch), :mod:`~.gradients` (BADGE's embedding), :mod:`~.coverage` (TypiClust),
:mod:`~.sampling` (the strategies) and :mod:`~.registry` (by name, configuration, binding).
"""

from __future__ import annotations

import importlib
from typing import Any

from alflow.config.strategy import StrategyConfig, strategy_options
from alflow.config.strategy_names import (
    COLD_START_STRATEGIES,
    COMMITTEE_STRATEGIES,
    DEFAULT_STRATEGY,
    StrategyName,
)

# Everything else is imported on first use (PEP 562): the sampling code pulls in scikit-learn,
# and a command that only reads a loop's configuration needs StrategyConfig and the names alone.
# Pickle finds a checkpoint's strategy (saved as ``alflow.strategies.margin_sampling``) through
# the same lookup.
_LAZY = {
    "coverage": (
        "KMEANS_SAMPLE",
        "LARGE_POOL",
        "TYPICALITY_SAMPLE",
        "cluster_model",
        "typical_uncovered",
        "typicality_sample",
    ),
    "gradients": ("BADGE_CANDIDATES", "GradientEmbedding"),
    "measures": (
        "consensus_entropy_measure",
        "entropy_measure",
        "least_confident_measure",
        "margin_measure",
        "max_disagreement_measure",
        "typicality",
        "vote_entropy_measure",
    ),
    "pool": ("RandomState", "check_pool", "is_fitted", "labelled_X"),
    "ranked": ("ranked_batch",),
    "registry": ("STRATEGIES", "bind_strategy", "get_strategy"),
    "sampling": (
        "Strategy",
        "badge_sampling",
        "consensus_entropy_sampling",
        "diverse_margin_sampling",
        "entropy_sampling",
        "least_confident_sampling",
        "margin_sampling",
        "max_disagreement_sampling",
        "random_sampling",
        "ranked_batch_sampling",
        "typiclust_margin_sampling",
        "typiclust_sampling",
        "vote_entropy_sampling",
    ),
    "selectors": ("cluster_spread", "fill_batch", "kmeans_pp", "top_k"),
}
_HOME = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    importlib.import_module(f"{__name__}.registry")  # sets the strategies' pickled paths
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))


__all__ = [
    "BADGE_CANDIDATES",
    "COLD_START_STRATEGIES",
    "COMMITTEE_STRATEGIES",
    "DEFAULT_STRATEGY",
    "KMEANS_SAMPLE",
    "LARGE_POOL",
    "STRATEGIES",
    "TYPICALITY_SAMPLE",
    "GradientEmbedding",
    "RandomState",
    "Strategy",
    "StrategyConfig",
    "StrategyName",
    "badge_sampling",
    "bind_strategy",
    "check_pool",
    "cluster_model",
    "cluster_spread",
    "consensus_entropy_measure",
    "consensus_entropy_sampling",
    "diverse_margin_sampling",
    "entropy_measure",
    "entropy_sampling",
    "fill_batch",
    "get_strategy",
    "is_fitted",
    "kmeans_pp",
    "labelled_X",
    "least_confident_measure",
    "least_confident_sampling",
    "margin_measure",
    "margin_sampling",
    "max_disagreement_measure",
    "max_disagreement_sampling",
    "random_sampling",
    "ranked_batch",
    "ranked_batch_sampling",
    "strategy_options",
    "top_k",
    "typical_uncovered",
    "typicality",
    "typicality_sample",
    "typiclust_margin_sampling",
    "typiclust_sampling",
    "vote_entropy_measure",
    "vote_entropy_sampling",
]
