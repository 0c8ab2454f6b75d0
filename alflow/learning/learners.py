"""The modAL learner a loop trains, its checkpoint, and the shim that keeps modAL working.

modAL 0.4.2.1 passes ``force_all_finite`` to scikit-learn's ``check_X_y``; scikit-learn 1.8
removed it (modAL issue 196). :func:`apply_modal_shim` wraps the function modAL imported so the
argument is translated to ``ensure_all_finite``; :func:`fit_learner` and :func:`teach` apply it
(importing this module patches nothing), and it is tested.

Labels are class *names* (strings): scikit-learn keeps them in ``classes_``, so a class first seen
in a correction simply appears at the next fit, with no index map that could raise a KeyError.

Committee strategies (:data:`alflow.strategies.COMMITTEE_STRATEGIES`) need a modAL ``Committee``:
:func:`fit_learner` then builds one of ``committee_size`` members, each with its own estimator seed
and its own stratified bootstrap of the labels (drawn from a seeded ``np.random.Generator``, not
modAL's global ``np.random``), so members disagree where the labels leave room to. A forest's
trees are shared out among the members rather than multiplied (:func:`member_config`).

A semi-supervised estimator (:mod:`alflow.learning.semi_supervised`) also learns from the unlabelled
pool:
:func:`fit_learner` takes it as ``unlabelled`` and hands it, less the labelled samples, to every
estimator before the first fit; :func:`teach` removes the newly taught samples from it before
modAL refits, so a sample is never both labelled and unlabelled data.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
from modAL.models import ActiveLearner, Committee
from modAL.models import learners as _modal_learners

from alflow.config.estimators import (
    BaggingConfig,
    EstimatorConfig,
    RandomForestConfig,
    is_semi_supervised,
)
from alflow.errors import ConfigError, LabelError, LedgerError
from alflow.learning.build import build_estimator
from alflow.learning.semi_supervised import SemiSupervisedClassifier, UnlabelledPool
from alflow.state import versions
from alflow.strategies import COMMITTEE_STRATEGIES, StrategyConfig, bind_strategy, get_strategy

log = logging.getLogger(__name__)


def _translate_finite_kwarg(check):
    def check_X_y(*args, **kwargs):
        if "force_all_finite" in kwargs:
            kwargs["ensure_all_finite"] = kwargs.pop("force_all_finite")
        return check(*args, **kwargs)

    check_X_y.__wrapped__ = check
    return check_X_y


def apply_modal_shim() -> None:
    """Make modAL's ``teach()`` work on scikit-learn >= 1.8 (idempotent)."""
    current = _modal_learners.check_X_y
    if not hasattr(current, "__wrapped__"):
        _modal_learners.check_X_y = _translate_finite_kwarg(current)


def stratified_bootstrap(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row indices resampled with replacement *within* each class.

    A plain bootstrap of ten labels, one per class, drops about a third of the classes from
    each member; resampling within classes keeps every class in every member.
    """
    rows = [
        rng.choice(members, size=len(members), replace=True)
        for members in (np.flatnonzero(labels == c) for c in np.unique(labels))
    ]
    return np.sort(np.concatenate(rows))


class BootstrapLearner(ActiveLearner):
    """A committee member that refits on its own stratified bootstrap of the known labels.

    The bootstrap is drawn from ``np.random.default_rng([seed, n_labels])``, so it depends only
    on the member's seed and how many labels it knows: a checkpoint reloaded and taught the
    same labels refits the same model.
    """

    def __init__(self, estimator, query_strategy, seed: int, X_training=None, y_training=None):
        self.seed = seed
        super().__init__(
            estimator=estimator,
            query_strategy=query_strategy,
            X_training=X_training,
            y_training=y_training,
        )

    def _fit_to_known(self, bootstrap: bool = False, **fit_kwargs) -> BootstrapLearner:
        labels = np.asarray(self.y_training)
        rng = np.random.default_rng([self.seed, len(labels)])
        rows = stratified_bootstrap(labels, rng)
        self.estimator.fit(self.X_training[rows], labels[rows], **fit_kwargs)
        return self


@dataclass
class LearnerState:
    """A fitted modAL learner (or committee) plus which samples it was taught.

    Checkpointed every round.
    """

    learner: ActiveLearner | Committee
    training_ids: list[str] = field(default_factory=list)
    round_number: int = 0

    @property
    def classes(self) -> list[str]:
        """Class names in the column order of ``learner.predict_proba``."""
        if isinstance(self.learner, Committee):
            return [str(c) for c in self.learner.classes_]
        return [str(c) for c in self.learner.estimator.classes_]

    @property
    def n_labels(self) -> int:
        return len(self.training_ids)


def check_classes(labels: np.ndarray, where: str) -> None:
    """Raise LabelError unless ``labels`` hold at least two distinct classes."""
    distinct = sorted({str(v) for v in labels})
    if len(distinct) < 2:
        raise LabelError(
            f"{where}: a classifier needs at least two classes, found {len(distinct)} "
            f"({', '.join(distinct) or 'no labels'}); label at least one sample of another class"
        )


def fit_learner(
    estimator: EstimatorConfig,
    strategy: str | StrategyConfig,
    X: np.ndarray,
    labels: np.ndarray,
    ids: list[str],
    random_state: int,
    round_number: int = 0,
    unlabelled: UnlabelledPool | None = None,
) -> LearnerState:
    """Fit a new modAL learner on labelled samples ``ids`` (rows of ``X``).

    Args:
        estimator: the estimator configuration.
        strategy: a strategy name, or a :class:`StrategyConfig` whose parameters (committee
            size, candidates per pick...) are bound into the learner's query strategy.
        X: features of the labelled samples.
        labels: their class names.
        ids: their sample ids, in the same order.
        random_state: seeds the estimator (and the committee members' seeds and bootstraps).
        round_number: the round this learner belongs to.
        unlabelled: the pool a semi-supervised estimator learns from (ignored by supervised
            ones); ``ids`` are taken out of it here.

    Returns:
        The learner state: an ``ActiveLearner``, or a ``Committee`` for committee strategies.

    Raises:
        LabelError: fewer than two classes, or rows, labels and ids of different lengths.
        ConfigError: unknown strategy, a forest with fewer trees than committee members, or a
            semi-supervised estimator without ``unlabelled``.
    """
    apply_modal_shim()
    if not len(X) == len(labels) == len(ids):
        raise LabelError(f"fit got {len(X)} rows, {len(labels)} labels and {len(ids)} ids")
    check_classes(labels, f"round {round_number}")
    if isinstance(strategy, StrategyConfig):
        name, query_strategy, size = strategy.name, bind_strategy(strategy), strategy.committee_size
    else:  # a bare name: the strategy with its default parameters
        name, query_strategy = strategy, get_strategy(strategy)
        size = StrategyConfig.model_fields["committee_size"].default
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(labels, dtype=str)
    pool = _require_pool(estimator, unlabelled, ids)
    if name in COMMITTEE_STRATEGIES:
        learner = build_committee(estimator, query_strategy, X, y, random_state, size, pool)
    else:
        learner = ActiveLearner(
            estimator=_with_pool(build_estimator(estimator, random_state), pool),
            query_strategy=query_strategy,
            X_training=X,
            y_training=y,
        )
    return LearnerState(learner=learner, training_ids=list(ids), round_number=round_number)


def build_committee(
    estimator: EstimatorConfig,
    query_strategy,
    X: np.ndarray,
    y: np.ndarray,
    random_state: int,
    size: int,
    pool: UnlabelledPool | None = None,
) -> Committee:
    """A modAL Committee of ``size`` bootstrapped, differently seeded members.

    A random forest or bagging ensemble is already a committee of independent members, so its
    ``n_estimators`` are shared out among the committee's members instead of multiplied: the
    committee costs what the configured estimator costs, and its consensus averages as many
    trees as the configuration asks for.
    """
    seeds = np.random.SeedSequence(random_state).generate_state(size)
    members = [
        BootstrapLearner(
            estimator=_with_pool(
                build_estimator(member_config(estimator, size, i), int(seed) % (2**31 - 1)), pool
            ),
            query_strategy=query_strategy,
            seed=int(seed),
            X_training=X,
            y_training=y,
        )
        for i, seed in enumerate(seeds)
    ]
    return Committee(learner_list=members, query_strategy=query_strategy)


def _require_pool(
    estimator: EstimatorConfig, unlabelled: UnlabelledPool | None, ids: list[str]
) -> UnlabelledPool | None:
    """The pool less the labelled ``ids``; a semi-supervised estimator must have one."""
    if not is_semi_supervised(estimator):
        return None
    if unlabelled is None:
        raise ConfigError(
            f"estimator {estimator.kind!r} learns from the unlabelled pool too: pass the pool "
            "(alflow.learning.semi_supervised.cached_pool or array_pool) as unlabelled="
        )
    return unlabelled.without(list(ids))


def _with_pool(model, pool: UnlabelledPool | None):
    if pool is not None:
        model.set_pool(pool)
    return model


def semi_supervised_models(learner: ActiveLearner | Committee) -> list[SemiSupervisedClassifier]:
    """The learner's estimators that learn from the pool (one per committee member)."""
    members = learner.learner_list if isinstance(learner, Committee) else [learner]
    return [m.estimator for m in members if isinstance(m.estimator, SemiSupervisedClassifier)]


def member_config(estimator: EstimatorConfig, size: int, index: int) -> EstimatorConfig:
    """The configuration of committee member ``index`` of ``size`` (see :func:`build_committee`).

    Raises:
        ConfigError: the ensemble has fewer members than the committee.
    """
    if not isinstance(estimator, RandomForestConfig | BaggingConfig):
        return estimator
    total = estimator.n_estimators
    if total < size:
        raise ConfigError(
            f"a committee of {size} shares the {estimator.kind} ensemble's {total} estimators "
            f"among its members: raise n_estimators to at least {size} or lower committee_size"
        )
    share = total // size + (1 if index < total % size else 0)
    return estimator.model_copy(update={"n_estimators": share})


def teach(state: LearnerState, X: np.ndarray, labels: np.ndarray, ids: list[str]) -> int:
    """Teach samples the learner has not seen yet; return how many were new.

    Samples already taught are skipped (and logged), so re-running an ingest can never teach the
    same label twice. A class never seen before is logged as a growth of the class map.
    """
    apply_modal_shim()
    if len(ids) != len(labels) or len(ids) != len(X):
        raise LabelError(f"teach got {len(X)} rows, {len(labels)} labels and {len(ids)} ids")
    known = set(state.training_ids)
    keep = [i for i, sid in enumerate(ids) if sid not in known]
    if len(keep) < len(ids):
        log.info("skipping %d samples already taught", len(ids) - len(keep))
    if not keep:
        return 0
    new_labels = np.asarray(labels, dtype=str)[keep]
    grown = sorted(set(new_labels) - set(state.classes))
    if grown:
        log.warning("class map grows by %s (first seen in a correction)", ", ".join(grown))
    for model in semi_supervised_models(state.learner):  # labelled now: no longer unlabelled data
        model.set_pool(model.pool.without([ids[i] for i in keep]))
    state.learner.teach(np.asarray(X, dtype=np.float32)[keep], new_labels)
    state.training_ids.extend(ids[i] for i in keep)
    return len(keep)


def select_batch(
    state: LearnerState, X_pool: np.ndarray, n_instances: int, random_state: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """The learner's strategy's batch: pool positions (best first) and their scores.

    The strategy is called directly, once. modAL's ``query()`` wraps it in a bare ``except:``
    that calls a failing strategy a second time (and swallows ``KeyboardInterrupt`` the first
    time), then copies the picked rows, which alflow never needs.
    """
    learner = state.learner
    picked, scores = learner.query_strategy(
        learner, X_pool, n_instances=n_instances, random_state=random_state
    )
    return np.asarray(picked, dtype=int).ravel(), np.asarray(scores, dtype=float).ravel()


def predict(state: LearnerState, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Predicted class names and their probabilities for every row of ``X``."""
    proba = state.learner.predict_proba(np.asarray(X, dtype=np.float32))
    best = proba.argmax(axis=1)
    return np.asarray(state.classes, dtype=object)[best], proba[np.arange(len(best)), best]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_checkpoint(state: LearnerState, path: Path) -> str:
    """Write the learner atomically to ``path``; return its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    joblib.dump(state, tmp)
    tmp.replace(path)
    return file_sha256(path)


def load_checkpoint(
    path: str | Path, sha256: str | None = None, written_with: dict[str, str] | None = None
) -> LearnerState:
    """Load a learner checkpoint, refusing one whose hash does not match the ledger's, or one
    written by another scikit-learn or modAL (``written_with``: the versions the ledger recorded;
    see :mod:`alflow.state.versions`)."""
    path = Path(path)
    if not path.exists():
        raise LedgerError(
            f"learner checkpoint {path} is missing; restore it, or end the round in flight "
            "('alflow round cancel LOOP ROUND') and roll the loop back to a round whose "
            "checkpoint exists ('alflow rollback LOOP N')"
        )
    if sha256 is not None and file_sha256(path) != sha256:
        raise LedgerError(
            f"learner checkpoint {path} does not match the hash in the ledger; it was changed "
            "after it was written. Restore it, or end the round in flight ('alflow round cancel "
            "LOOP ROUND') and roll the loop back to an earlier round ('alflow rollback LOOP N')"
        )
    versions.check_checkpoint(path, written_with)
    from sklearn.exceptions import InconsistentVersionWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", InconsistentVersionWarning)
        try:
            with versions.moved_module_paths():
                return joblib.load(path)
        except InconsistentVersionWarning as warning:
            versions.refuse_sklearn_mismatch(path, warning)
            raise  # not reached: the refusal raises
