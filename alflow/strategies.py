"""Query strategies: a *measure* of informativeness plus a *selector* of a batch.

Every strategy has modAL's signature, so it can be passed as an ``ActiveLearner``'s (or a
``Committee``'s) ``query_strategy``::

    strategy(classifier, X_pool, n_instances=1, random_state=None, **params) -> (indices, scores)

``indices`` are distinct positions in ``X_pool`` (never samples), in the strategy's order of
preference (highest score first for the top-k strategies); ``scores`` are the measure at those
positions (higher = more informative). Randomness only comes from
``random_state`` (an int or a ``np.random.Generator``), so a strategy called twice with the same
arguments returns the same batch. The round loop removes labelled, held-out and queued samples
from the pool before calling a strategy, so strategies never see them; a strategy that needs the
labelled samples (to cover what they do not) reads them from the learner's ``X_training``.

Families:

* uncertainty of one model: ``least_confident``, ``margin``, ``entropy``, and modAL's
  ``ranked_batch`` (uncertainty traded against distance to what is labelled);
* disagreement of a committee (needs a modAL ``Committee``, which
  :func:`alflow.learners.fit_learner` builds for :data:`COMMITTEE_STRATEGIES`):
  ``vote_entropy``, ``consensus_entropy``, ``max_disagreement``;
* diversity-aware batches: ``diverse_margin`` (the most uncertain samples, spread over k-means
  clusters) and ``badge`` (k-means++ seeding on gradient embeddings);
* cold start (no model needed, :data:`COLD_START_STRATEGIES`): ``typiclust`` (the most typical
  sample of each uncovered k-means cluster), and ``typiclust_margin``, which covers the data that
  way while the labels are few and then switches to ``diverse_margin``;
* ``random``: the baseline every strategy must beat.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from modAL.batch import ranked_batch
from modAL.models import Committee
from pydantic import BaseModel, ConfigDict, Field
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.exceptions import NotFittedError
from sklearn.metrics import pairwise_distances
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.validation import check_is_fitted

from alflow.errors import ConfigError, PoolExhaustedError

Strategy = Callable[..., tuple[np.ndarray, np.ndarray]]
RandomState = int | np.random.Generator | None

StrategyName = Literal[
    "ranked_batch",
    "least_confident",
    "margin",
    "entropy",
    "vote_entropy",
    "consensus_entropy",
    "max_disagreement",
    "diverse_margin",
    "badge",
    "typiclust",
    "typiclust_margin",
    "random",
]
# Chosen by benchmarks/label_efficiency.py on its tuning seeds (see the JSON it writes).
DEFAULT_STRATEGY: StrategyName = "typiclust_margin"


class StrategyConfig(BaseModel):
    """Which strategy selects each batch, and the few knobs some strategies have."""

    model_config = ConfigDict(extra="forbid")
    name: StrategyName = Field(DEFAULT_STRATEGY, description="Query strategy")
    committee_size: int = Field(
        3,
        ge=2,
        le=50,
        description="Members of the committee (committee strategies only); each refits every round",
    )
    candidates_per_pick: int = Field(
        3,
        ge=1,
        le=100,
        description="diverse_margin: uncertain candidates clustered per sample picked",
    )
    coverage_per_class: int = Field(
        3,
        ge=0,
        le=100,
        description="typiclust_margin: labels per known class gathered by coverage first",
    )

    def params(self) -> dict[str, Any]:
        """Keyword arguments for the chosen strategy (only those it takes)."""
        wanted = _STRATEGY_PARAMS.get(self.name, ())
        return {key: getattr(self, key) for key in wanted}


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _rng(random_state: RandomState) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(random_state)


def _seed(rng: np.random.Generator) -> int:
    """An int seed for scikit-learn, drawn from ``rng`` (so it follows ``random_state``)."""
    return int(rng.integers(2**31 - 1))


def check_pool(n_pool: int, n_instances: int) -> None:
    """Raise unless a pool of ``n_pool`` samples can fill a batch of ``n_instances``.

    Raises:
        ConfigError: ``n_instances`` is below 1.
        PoolExhaustedError: fewer samples are left than requested (the message has both).
    """
    if n_instances < 1:
        raise ConfigError(f"n_instances must be at least 1, got {n_instances}")
    if n_pool < n_instances:
        raise PoolExhaustedError(
            f"pool exhausted: {n_pool} unlabelled samples left, {n_instances} requested; "
            "lower batch_size or add samples"
        )


def is_fitted(classifier: Any) -> bool:
    """Whether ``classifier`` (modAL learner, committee or estimator) can predict."""
    if classifier is None:
        return False
    if isinstance(classifier, Committee):
        return classifier.classes_ is not None
    estimator = getattr(classifier, "estimator", classifier)
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return False
    return True


def labelled_X(classifier: Any) -> np.ndarray | None:
    """The samples the learner was taught (``None`` for no learner or a bare estimator)."""
    if isinstance(classifier, Committee):
        classifier = classifier.learner_list[0]
    X = getattr(classifier, "X_training", None)
    return None if X is None else np.asarray(X)


def _require_fitted(classifier: Any, name: str) -> None:
    if not is_fitted(classifier):
        raise ConfigError(
            f"strategy {name!r} measures a fitted model's uncertainty, but the learner is not "
            f"fitted: label samples of at least two classes first, or start with a cold-start "
            f"strategy ({', '.join(sorted(COLD_START_STRATEGIES))})"
        )


def _member_proba(classifier: Any, X: np.ndarray, name: str) -> np.ndarray:
    """Class probabilities of every committee member, shape (samples, members, classes)."""
    if not isinstance(classifier, Committee):
        raise ConfigError(
            f"strategy {name!r} measures a committee's disagreement, but the learner is a "
            f"{type(classifier).__name__}: fit it with alflow.learners.fit_learner, which builds "
            "a modAL Committee for committee strategies"
        )
    _require_fitted(classifier, name)
    return classifier.vote_proba(X)


# --------------------------------------------------------------------------------------------
# Measures: probabilities in, one score per sample out (higher = more informative)
# --------------------------------------------------------------------------------------------


def least_confident_measure(proba: np.ndarray) -> np.ndarray:
    """1 minus the probability of the most likely class."""
    return 1.0 - proba.max(axis=1)


def margin_measure(proba: np.ndarray) -> np.ndarray:
    """1 minus the gap between the two most probable classes (higher = less sure)."""
    if proba.shape[1] < 2:
        return np.zeros(proba.shape[0])
    top2 = -np.partition(-proba, 1, axis=1)[:, :2]
    return 1.0 - (top2[:, 0] - top2[:, 1])


def entropy_measure(proba: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) of the predicted class distribution."""
    return _entropy(proba)


def _entropy(p: np.ndarray, axis: int = -1) -> np.ndarray:
    logs = np.log(np.where(p > 0, p, 1.0))
    return -(p * logs).sum(axis=axis)


def vote_entropy_measure(member_proba: np.ndarray) -> np.ndarray:
    """Entropy of the members' hard votes: high when members predict different classes."""
    n_samples, n_members, n_classes = member_proba.shape
    votes = member_proba.argmax(axis=2)
    shares = np.zeros((n_samples, n_classes))
    for member in range(n_members):
        shares[np.arange(n_samples), votes[:, member]] += 1.0 / n_members
    return _entropy(shares)


def consensus_entropy_measure(member_proba: np.ndarray) -> np.ndarray:
    """Entropy of the members' averaged probabilities."""
    return _entropy(member_proba.mean(axis=1))


def max_disagreement_measure(member_proba: np.ndarray) -> np.ndarray:
    """Largest Kullback-Leibler divergence of one member from the consensus."""
    consensus = member_proba.mean(axis=1, keepdims=True)
    ratio = np.where(member_proba > 0, member_proba / np.where(consensus > 0, consensus, 1), 1)
    kl = (member_proba * np.log(ratio)).sum(axis=2)
    return kl.max(axis=1)


def typicality(X: np.ndarray, n_neighbors: int = 20) -> np.ndarray:
    """Inverse mean distance to the ``n_neighbors`` nearest other samples (TypiClust).

    Dense regions are typical: a label there speaks for many samples, where an outlier's
    label speaks only for itself.
    """
    k = min(n_neighbors, len(X) - 1)
    if k < 1:
        return np.ones(len(X))
    distances, _ = NearestNeighbors(n_neighbors=k + 1).fit(X).kneighbors(X)
    return 1.0 / (distances[:, 1:].mean(axis=1) + 1e-12)


# --------------------------------------------------------------------------------------------
# Selectors: scores (and samples) in, batch of distinct indices out
# --------------------------------------------------------------------------------------------


def top_k(scores: np.ndarray, n_instances: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of the ``n_instances`` highest scores; ties broken by ``rng``, not by position."""
    jitter = rng.random(scores.shape[0])
    order = np.lexsort((jitter, -scores))
    return order[:n_instances]


def cluster_spread(
    X: np.ndarray,
    scores: np.ndarray,
    n_instances: int,
    n_candidates: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """The top-scored sample of each of ``n_instances`` k-means clusters of the top candidates.

    Plain top-k takes near-duplicates when uncertainty is concentrated in one confusion (say
    3 vs 8); clustering the ``n_candidates`` most informative samples and taking one per
    cluster spreads the batch over different confusions (Zhdanov, 2019).
    """
    n_candidates = min(max(n_candidates, n_instances), len(X))
    candidates = top_k(scores, n_candidates, rng)
    if n_candidates == n_instances:
        return candidates
    kmeans = KMeans(n_clusters=n_instances, n_init=1, random_state=_seed(rng))
    assignment = kmeans.fit_predict(X[candidates], sample_weight=scores[candidates] + 1e-12)
    picked = []
    for cluster in range(n_instances):
        members = candidates[assignment == cluster]
        if len(members):
            picked.append(members[top_k(scores[members], 1, rng)[0]])
    return _fill(np.asarray(picked, dtype=int), candidates, n_instances)


def _fill(picked: np.ndarray, ranked: np.ndarray, n_instances: int) -> np.ndarray:
    """Top up ``picked`` with the best of ``ranked`` not yet picked (empty clusters happen)."""
    if len(picked) >= n_instances:
        return picked[:n_instances]
    rest = ranked[~np.isin(ranked, picked)]
    return np.concatenate([picked, rest[: n_instances - len(picked)]])


def kmeans_pp(embedding: np.ndarray, n_instances: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding: each pick is drawn with probability proportional to its squared
    distance from the picks so far, which favours large (informative) and distinct rows."""
    norms = (embedding**2).sum(axis=1)
    picked = [int(np.argmax(norms))]
    closest = pairwise_distances(embedding, embedding[picked]).ravel() ** 2
    while len(picked) < n_instances:
        total = closest.sum()
        if total <= 0:
            rest = np.setdiff1d(np.arange(len(embedding)), picked)
            picked.extend(rng.permutation(rest)[: n_instances - len(picked)].tolist())
            break
        nxt = int(rng.choice(len(embedding), p=closest / total))
        picked.append(nxt)
        new = pairwise_distances(embedding, embedding[[nxt]]).ravel() ** 2
        closest = np.minimum(closest, new)
    return np.asarray(picked, dtype=int)


# Above these sizes TypiClust works on estimates: exact k-means of a million 512-d vectors into a
# few hundred clusters takes many minutes, and exact typicality is quadratic in a cluster's size.
LARGE_POOL = 20_000
TYPICALITY_SAMPLE = 5_000


def cluster_model(n_clusters: int, n_samples: int, seed: int) -> KMeans | MiniBatchKMeans:
    """Exact k-means for pools up to ``LARGE_POOL`` samples, mini-batch k-means above."""
    if n_samples <= LARGE_POOL:
        return KMeans(n_clusters=n_clusters, n_init=1, random_state=seed)
    return MiniBatchKMeans(n_clusters=n_clusters, n_init=1, batch_size=4096, random_state=seed)


def typicality_sample(members: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``members``, or a random ``TYPICALITY_SAMPLE`` of them (sorted) when there are more."""
    if len(members) <= TYPICALITY_SAMPLE:
        return members
    return np.sort(rng.choice(members, TYPICALITY_SAMPLE, replace=False))


def typical_uncovered(
    X_pool: np.ndarray,
    X_labelled: np.ndarray | None,
    n_instances: int,
    rng: np.random.Generator,
    n_neighbors: int = 20,
) -> tuple[np.ndarray, np.ndarray]:
    """TypiClust (Hacohen et al., 2022): the most typical sample of the largest uncovered clusters.

    Pool and labelled samples are clustered into ``n_labelled + n_instances`` k-means clusters;
    clusters holding the fewest labels (then the most samples) are served first, each with its
    most typical pool sample. Needs no model, so it works from zero labels. Large pools use
    mini-batch k-means and typicality within a random sample of each cluster (see
    :func:`cluster_model`, :func:`typicality_sample`).

    Returns:
        Pool indices and their typicality.
    """
    n_labelled = 0 if X_labelled is None else len(X_labelled)
    X_all = X_pool if n_labelled == 0 else np.vstack([X_pool, X_labelled])
    n_clusters = min(n_labelled + n_instances, len(X_all))
    assignment = cluster_model(n_clusters, len(X_all), _seed(rng)).fit_predict(X_all)
    pool_cluster = assignment[: len(X_pool)]
    labels_in = np.bincount(assignment[len(X_pool) :], minlength=n_clusters)
    size = np.bincount(pool_cluster, minlength=n_clusters)
    picked: list[int] = []
    scores: list[float] = []
    for cluster in np.lexsort((-size, labels_in)):
        members = typicality_sample(np.flatnonzero(pool_cluster == cluster), rng)
        if len(members) == 0:
            continue
        typ = typicality(X_pool[members], n_neighbors)
        best = top_k(typ, 1, rng)[0]
        picked.append(int(members[best]))
        scores.append(float(typ[best]))
        if len(picked) == n_instances:
            break
    idx = np.asarray(picked, dtype=int)
    if len(idx) < n_instances:  # fewer non-empty clusters than picks: top up at random
        rest = rng.permutation(np.setdiff1d(np.arange(len(X_pool)), idx))
        idx = np.concatenate([idx, rest[: n_instances - len(idx)]])
        scores.extend([0.0] * (n_instances - len(scores)))
    return idx, np.asarray(scores)


# --------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------


def _uncertainty(measure: Callable[[np.ndarray], np.ndarray], name: str) -> Strategy:
    def strategy(classifier, X_pool, n_instances: int = 1, random_state: RandomState = None, **_):
        check_pool(len(X_pool), n_instances)
        _require_fitted(classifier, name)
        scores = measure(classifier.predict_proba(X_pool))
        idx = top_k(scores, n_instances, _rng(random_state))
        return idx, scores[idx]

    strategy.__name__ = f"{name}_sampling"
    strategy.__qualname__ = strategy.__name__
    strategy.__doc__ = f"The samples with the highest {measure.__name__} (one model)."
    return strategy


def _disagreement(measure: Callable[[np.ndarray], np.ndarray], name: str) -> Strategy:
    def strategy(classifier, X_pool, n_instances: int = 1, random_state: RandomState = None, **_):
        check_pool(len(X_pool), n_instances)
        scores = measure(_member_proba(classifier, X_pool, name))
        idx = top_k(scores, n_instances, _rng(random_state))
        return idx, scores[idx]

    strategy.__name__ = f"{name}_sampling"
    strategy.__qualname__ = strategy.__name__
    strategy.__doc__ = f"The samples with the highest {measure.__name__} (a modAL Committee)."
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
    """modAL's ranked batch mode (Cardoso et al., 2017), the seed plugin's strategy.

    Least-confidence uncertainty traded against distance to the labelled samples and to the
    batch so far, with a weight that shifts toward uncertainty as the labelled set grows.
    Deterministic, so ``random_state`` is accepted for the common signature only.
    """
    check_pool(len(X_pool), n_instances)
    _require_fitted(classifier, "ranked_batch")
    X_pool = np.asarray(X_pool)
    uncertainty = least_confident_measure(classifier.predict_proba(X_pool))
    # modAL's Committee keeps no X_training of its own (it would take the cold-start branch);
    # its members all hold the labelled samples.
    holder = classifier.learner_list[0] if isinstance(classifier, Committee) else classifier
    idx, scores = ranked_batch(
        holder, X_pool, uncertainty, n_instances=n_instances, metric="euclidean", n_jobs=None
    )
    return np.asarray(idx, dtype=int), np.asarray(scores, dtype=float)


def diverse_margin_sampling(
    classifier,
    X_pool,
    n_instances: int = 1,
    random_state: RandomState = None,
    candidates_per_pick: int = 3,
    **_,
):
    """Margin uncertainty spread over k-means clusters of the most uncertain candidates.

    Args:
        candidates_per_pick: how many of the most uncertain samples are clustered per sample
            picked; 1 is plain margin sampling, larger trades uncertainty for diversity.
    """
    check_pool(len(X_pool), n_instances)
    _require_fitted(classifier, "diverse_margin")
    X_pool = np.asarray(X_pool)
    rng = _rng(random_state)
    scores = margin_measure(classifier.predict_proba(X_pool))
    idx = cluster_spread(X_pool, scores, n_instances, candidates_per_pick * n_instances, rng)
    return idx, scores[idx]


def gradient_embedding(proba: np.ndarray, X: np.ndarray) -> np.ndarray:
    """BADGE's embedding: the log-loss gradient of a linear last layer at the predicted label.

    ``(p - onehot(argmax p)) ⊗ x``: its norm grows with uncertainty, its direction says which
    classes are confused and where in feature space.
    """
    residual = proba.copy()
    residual[np.arange(len(proba)), proba.argmax(axis=1)] -= 1.0
    return (residual[:, :, None] * X[:, None, :]).reshape(len(X), -1)


def badge_sampling(classifier, X_pool, n_instances: int = 1, random_state: RandomState = None, **_):
    """BADGE (Ash et al., 2020): k-means++ seeding on gradient embeddings.

    Uncertain samples have long embeddings and k-means++ favours far-apart ones, so the batch
    is uncertain and diverse without a trade-off weight.
    """
    check_pool(len(X_pool), n_instances)
    _require_fitted(classifier, "badge")
    X_pool = np.asarray(X_pool)
    proba = classifier.predict_proba(X_pool)
    idx = kmeans_pp(gradient_embedding(proba, X_pool), n_instances, _rng(random_state))
    return idx, margin_measure(proba)[idx]


def typiclust_sampling(
    classifier, X_pool, n_instances: int = 1, random_state: RandomState = None, **_
):
    """Cold start: the most typical sample of each uncovered cluster; ``classifier`` may be None.

    Uses the learner's labelled samples, when there is a learner, to know which clusters are
    covered already.
    """
    check_pool(len(X_pool), n_instances)
    return typical_uncovered(
        np.asarray(X_pool), labelled_X(classifier), n_instances, _rng(random_state)
    )


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
    X_lab = labelled_X(classifier)
    n_classes = len(_classes(classifier)) if is_fitted(classifier) else 0
    n_labelled = 0 if X_lab is None else len(X_lab)
    if not is_fitted(classifier) or n_labelled < coverage_per_class * max(n_classes, 2):
        return typiclust_sampling(classifier, X_pool, n_instances, random_state)
    return diverse_margin_sampling(
        classifier, X_pool, n_instances, random_state, candidates_per_pick=candidates_per_pick
    )


def _classes(classifier: Any) -> np.ndarray:
    if isinstance(classifier, Committee):
        return np.asarray(classifier.classes_ if classifier.classes_ is not None else [])
    estimator = getattr(classifier, "estimator", classifier)
    return np.asarray(getattr(estimator, "classes_", []))


def random_sampling(
    classifier, X_pool, n_instances: int = 1, random_state: RandomState = None, **_
):
    """Uniformly random samples: the baseline every strategy must beat; needs no model."""
    check_pool(len(X_pool), n_instances)
    idx = _rng(random_state).choice(len(X_pool), size=n_instances, replace=False)
    return idx, np.zeros(n_instances)


STRATEGIES: dict[str, Strategy] = {
    "ranked_batch": ranked_batch_sampling,
    "least_confident": least_confident_sampling,
    "margin": margin_sampling,
    "entropy": entropy_sampling,
    "vote_entropy": vote_entropy_sampling,
    "consensus_entropy": consensus_entropy_sampling,
    "max_disagreement": max_disagreement_sampling,
    "diverse_margin": diverse_margin_sampling,
    "badge": badge_sampling,
    "typiclust": typiclust_sampling,
    "typiclust_margin": typiclust_margin_sampling,
    "random": random_sampling,
}
COMMITTEE_STRATEGIES: frozenset[str] = frozenset(
    {"vote_entropy", "consensus_entropy", "max_disagreement"}
)
COLD_START_STRATEGIES: frozenset[str] = frozenset({"typiclust", "typiclust_margin", "random"})
_STRATEGY_PARAMS: dict[str, tuple[str, ...]] = {
    "diverse_margin": ("candidates_per_pick",),
    "typiclust_margin": ("coverage_per_class", "candidates_per_pick"),
}


def strategy_options(name: str) -> tuple[str, ...]:
    """The :class:`StrategyConfig` fields that strategy ``name`` uses besides its name.

    Forms (the App's) show only these, so no option is offered that the strategy ignores.
    """
    committee = ("committee_size",) if name in COMMITTEE_STRATEGIES else ()
    return committee + _STRATEGY_PARAMS.get(name, ())


def get_strategy(name: str) -> Strategy:
    """The strategy registered as ``name``.

    Raises:
        ConfigError: no strategy has that name (the message lists those that do).
    """
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ConfigError(
            f"unknown strategy {name!r}; choose one of {', '.join(sorted(STRATEGIES))}"
        ) from None


def bind_strategy(config: StrategyConfig) -> Strategy:
    """The configured strategy with its parameters bound, ready to be a ``query_strategy``.

    A ``functools.partial`` of a module-level function, so a learner holding it pickles.
    """
    strategy = get_strategy(config.name)
    params = config.params()
    return functools.partial(strategy, **params) if params else strategy
