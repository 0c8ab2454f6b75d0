"""The strategies: a measure plus a selector, each with the one signature every caller uses.

    strategy(classifier, X_pool, n_instances=1, random_state=None, **params) -> (indices, scores)

``X_pool`` may be memory-mapped; no strategy copies it whole (probabilities are computed a chunk
of rows at a time, and only selected candidates' rows are read out).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from alflow.errors import ConfigError
from alflow.strategies.coverage import typical_uncovered
from alflow.strategies.gradients import GradientEmbedding, badge_candidates
from alflow.strategies.measures import (
    consensus_entropy_measure,
    entropy_measure,
    least_confident_measure,
    margin_measure,
    max_disagreement_measure,
    vote_entropy_measure,
)
from alflow.strategies.pool import (
    RandomState,
    check_pool,
    classes_of,
    committee_scores,
    is_fitted,
    labelled_X,
    pool_proba,
    rng_of,
)
from alflow.strategies.ranked import ranked_batch
from alflow.strategies.selectors import cluster_spread, kmeans_pp, top_k

Strategy = Callable[..., tuple[np.ndarray, np.ndarray]]


def _uncertainty(measure: Callable[[np.ndarray], np.ndarray], name: str) -> Strategy:
    def strategy(classifier, X_pool, n_instances: int = 1, random_state: RandomState = None, **_):
        check_pool(len(X_pool), n_instances)
        scores = measure(pool_proba(classifier, X_pool, name))
        idx = top_k(scores, n_instances, rng_of(random_state))
        return idx, scores[idx]

    strategy.__name__ = f"{name}_sampling"
    strategy.__qualname__ = strategy.__name__
    strategy.__doc__ = f"The samples with the highest {measure.__name__} (one model)."
    return strategy


def _disagreement(measure: Callable[[np.ndarray], np.ndarray], name: str) -> Strategy:
    def strategy(classifier, X_pool, n_instances: int = 1, random_state: RandomState = None, **_):
        check_pool(len(X_pool), n_instances)
        scores = committee_scores(classifier, X_pool, measure, name)
        idx = top_k(scores, n_instances, rng_of(random_state))
        return idx, scores[idx]

    strategy.__name__ = f"{name}_sampling"
    strategy.__qualname__ = strategy.__name__
    strategy.__doc__ = (
        f"The samples with the highest {measure.__name__} (a modAL Committee); the members' "
        "probabilities are held for one chunk of the pool at a time."
    )
    return strategy


least_confident_sampling = _uncertainty(least_confident_measure, "least_confident")
margin_sampling = _uncertainty(margin_measure, "margin")
entropy_sampling = _uncertainty(entropy_measure, "entropy")
vote_entropy_sampling = _disagreement(vote_entropy_measure, "vote_entropy")
consensus_entropy_sampling = _disagreement(consensus_entropy_measure, "consensus_entropy")
max_disagreement_sampling = _disagreement(max_disagreement_measure, "max_disagreement")


def ranked_batch_sampling(
    classifier, X_pool, n_instances: int = 1, random_state: RandomState = None, **_
):
    """modAL's ranked batch mode (Cardoso et al., 2017).

    Least-confidence uncertainty traded against distance to the labelled samples and to the
    batch so far, with a weight that shifts toward uncertainty as the labelled set grows: the
    same picks as modAL's ``uncertainty_batch_sampling``, computed incrementally
    (:mod:`alflow.strategies.ranked`). Deterministic, so ``random_state`` is accepted for the
    common signature only.
    """
    check_pool(len(X_pool), n_instances)
    uncertainty = least_confident_measure(pool_proba(classifier, X_pool, "ranked_batch"))
    X_labelled = labelled_X(classifier)
    if X_labelled is None or len(X_labelled) == 0:
        raise ConfigError(
            "strategy 'ranked_batch' measures distance to the labelled samples, but the learner "
            "holds none (X_training): pass the modAL learner, not its bare estimator"
        )
    idx = ranked_batch(X_pool, X_labelled, uncertainty, n_instances)
    return idx, uncertainty[idx]


def diverse_margin_sampling(
    classifier,
    X_pool,
    n_instances: int = 1,
    random_state: RandomState = None,
    candidates_per_pick: int = 3,
    **_,
):
    """Margin uncertainty spread over k-means clusters of the most uncertain candidates.

    Only the ``candidates_per_pick * n_instances`` candidates' rows are clustered (and read).

    Args:
        candidates_per_pick: how many of the most uncertain samples are clustered per sample
            picked; 1 is plain margin sampling, larger trades uncertainty for diversity.
    """
    check_pool(len(X_pool), n_instances)
    rng = rng_of(random_state)
    scores = margin_measure(pool_proba(classifier, X_pool, "diverse_margin"))
    idx = cluster_spread(X_pool, scores, n_instances, candidates_per_pick * n_instances, rng)
    return idx, scores[idx]


def badge_sampling(classifier, X_pool, n_instances: int = 1, random_state: RandomState = None, **_):
    """BADGE (Ash et al., 2020): k-means++ seeding on gradient embeddings.

    Uncertain samples have long embeddings and k-means++ favours far-apart ones, so the batch
    is uncertain and diverse without a trade-off weight. The embeddings are never built: their
    norms and distances factor (:mod:`alflow.strategies.gradients`), and on pools above
    ``BADGE_CANDIDATES`` samples k-means++ runs over that many of the largest gradient norms.
    """
    check_pool(len(X_pool), n_instances)
    proba = pool_proba(classifier, X_pool, "badge")
    candidates = badge_candidates(proba, X_pool)
    if len(candidates) == len(X_pool):
        embedding = GradientEmbedding.of(proba, X_pool)
    else:
        embedding = GradientEmbedding.of(proba[candidates], X_pool[candidates])
    picked = kmeans_pp(
        embedding.sq_norms, embedding.sq_distances_to, n_instances, rng_of(random_state)
    )
    idx = candidates[picked]
    return idx, margin_measure(proba[idx])


def typiclust_sampling(
    classifier, X_pool, n_instances: int = 1, random_state: RandomState = None, **_
):
    """Cold start: the most typical sample of each uncovered cluster; ``classifier`` may be None.

    Uses the learner's labelled samples, when there is a learner, to know which clusters are
    covered already (:mod:`alflow.strategies.coverage`).
    """
    check_pool(len(X_pool), n_instances)
    return typical_uncovered(X_pool, labelled_X(classifier), n_instances, rng_of(random_state))


def typiclust_margin_sampling(
    classifier,
    X_pool,
    n_instances: int = 1,
    random_state: RandomState = None,
    coverage_per_class: int = 3,
    candidates_per_pick: int = 3,
    **_,
):
    """Cover the data first (TypiClust), then spend labels on uncertainty (diverse margin).

    With few labels a model's uncertainty is unreliable, while covering typical regions pays
    off at once; once every known class has about ``coverage_per_class`` labels, the model's
    margin is the better guide. Works from zero labels.

    Args:
        coverage_per_class: labels per known class gathered by coverage before switching.
        candidates_per_pick: passed to :func:`diverse_margin_sampling` after the switch.
    """
    check_pool(len(X_pool), n_instances)
    if not _covered(classifier, coverage_per_class):
        return typiclust_sampling(classifier, X_pool, n_instances, random_state)
    return diverse_margin_sampling(
        classifier, X_pool, n_instances, random_state, candidates_per_pick=candidates_per_pick
    )


def _covered(classifier: Any, per_class: int) -> bool:
    """Whether a fitted learner holds ``per_class`` labels per known class (at least two)."""
    if not is_fitted(classifier):
        return False
    X_lab = labelled_X(classifier)
    n_labelled = 0 if X_lab is None else len(X_lab)
    return n_labelled >= per_class * max(len(classes_of(classifier)), 2)


def random_sampling(
    classifier, X_pool, n_instances: int = 1, random_state: RandomState = None, **_
):
    """Uniformly random samples: the baseline every strategy must beat; needs no model."""
    check_pool(len(X_pool), n_instances)
    idx = rng_of(random_state).choice(len(X_pool), size=n_instances, replace=False)
    return idx, np.zeros(n_instances)
