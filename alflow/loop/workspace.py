"""The one place that wires alflow's parts to real systems: ledger, FiftyOne, cache, backend.

Tasks open a :class:`Workspace` per call (cheap: FiftyOne keeps one database connection per
process) instead of passing live objects between tasks, so task inputs and results stay small
values (loop names, round numbers, ids, paths) that Prefect can record and hash.
"""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

import alflow
from alflow import progress
from alflow.backends import AnnotationBackend, check_settings, make_backend
from alflow.config.loop import LoopConfig
from alflow.data import features as feats
from alflow.data import freshness, store
from alflow.errors import plural, preview_ids
from alflow.services import connections
from alflow.services.environment import cache_dir
from alflow.state import versions
from alflow.state.ledger import Ledger

log = logging.getLogger(__name__)


@dataclass
class Workspace:
    """Access to the ledger, datasets, feature cache and annotation backend of loops."""

    ledger: Ledger
    # the step's StepOptions.dask_workers: where this run scores the pool (None: as configured)
    dask_workers: int | None = None
    # matrices opened by this workspace (one per task): opened once, still checked each call
    _opened: dict[Path, feats.FeatureMatrix] = field(default_factory=dict, repr=False)

    def config(self, loop: str) -> LoopConfig:
        doc = self.ledger.loop(loop)
        stored = versions.upgrade("loop configuration", doc["config"], f"loop {loop!r}")
        return LoopConfig.model_validate(stored)

    def dataset(self, config: LoopConfig):
        return store.open_dataset(config.dataset)

    def backend(self, config: LoopConfig) -> AnnotationBackend:
        return make_backend(config, lambda: self.dataset(config))

    def check_backend(self, config: LoopConfig) -> None:
        """Refuse backend settings no round may start with (before a loop is stored, changed
        or opens a round), so no round is left ``queried`` by a refusal at its export."""
        check_settings(config)

    def cache_directory(self, config: LoopConfig, dataset=None) -> Path:
        """Where the loop's feature matrix is cached (whether or not it exists yet)."""
        dataset = dataset if dataset is not None else self.dataset(config)
        spec = config.features
        key = feats.cache_key(
            config.dataset, spec.fields, spec.standardize, store.fingerprint(dataset)
        )
        return cache_dir() / key

    def features(self, config: LoopConfig, refresh: bool = False) -> feats.FeatureMatrix:
        """The loop's feature matrix, read from FiftyOne only when the cache is stale."""
        dataset = self.dataset(config)
        spec = config.features
        directory = self.cache_directory(config, dataset)
        if not refresh and (fm := self._fresh_cache(dataset, spec.fields, directory)):
            return fm
        with feats.build_lock(directory):  # a concurrent builder of this key finishes first
            if not refresh and (fm := self._fresh_cache(dataset, spec.fields, directory)):
                return fm
            return self._build(config, dataset, directory)

    def _fresh_cache(self, dataset, fields: list[str], directory: Path):
        """The cache at ``directory`` if it exists and still matches the dataset, else None."""
        if not directory.exists():
            return None
        fm = self._opened.get(directory) or feats.open_cache(directory)
        if not self._still_fresh(dataset, fields, fm):
            return None
        self._opened[directory] = fm
        return fm

    def _build(self, config: LoopConfig, dataset, directory: Path) -> feats.FeatureMatrix:
        spec = config.features
        store.require_fields(dataset, spec.fields, "feature")
        mark = store.newest_modification(dataset)  # before reading: later edits are seen later
        n_rows = len(dataset)
        with progress.step(f"loading features of {config.dataset!r}", n_rows) as report:
            chunks = store.iter_columns(dataset, spec.fields)
            counted = progress.counted(chunks, report, lambda c: len(c[0]))
            fm = feats.build_cache(directory, counted, n_rows, spec.standardize)
        freshness.set_mark(fm.path, mark)
        self._opened[directory] = fm
        return fm

    def _still_fresh(self, dataset, fields: list[str], fm: feats.FeatureMatrix) -> bool:
        """Whether the cached values still match: re-reads only samples modified since the
        cache's mark, outside alflow's own writes (see :mod:`alflow.data.freshness`)."""
        state = freshness.read_mark(fm.path)
        query = freshness.modified_filter(state)
        if query is None or not (fm.path / freshness.DIGESTS).exists():
            return False  # a cache without value digests (an earlier format): rebuild it once
        newest = store.newest_modification(dataset)
        ids = store.ids_where(dataset, query)
        if ids:  # samples added since are not in this cache: its key covers the sample set
            ids = [i for i, known in zip(ids, np.isin(ids, fm.ids), strict=True) if known]
        if ids:
            digests = np.load(fm.path / freshness.DIGESTS, mmap_mode="r")
            changed = []
            # chunk by chunk: after a bulk edit every sample may be read again
            for chunk_ids, cols in store.iter_columns_of(dataset, ids, fields):
                fresh = feats.assemble(cols, chunk_ids)
                stored = digests[fm.rows(chunk_ids)]
                changed += freshness.changed_rows(list(chunk_ids), stored, fresh)
            if changed:
                log.warning(
                    "features of %s changed in place (%s); rebuilding the cache",
                    plural(len(changed), "sample"),
                    preview_ids(changed),
                )
                return False
        if newest is not None:
            freshness.set_mark(fm.path, newest)
        return True


def open_workspace(*, ledger_only: bool = False, dask_workers: int | None = None) -> Workspace:
    """A workspace on the FiftyOne database configured for this process.

    ``ledger_only``: the caller reads or edits only the ledger (datasets are still opened on
    demand), so the ledger is reached without importing FiftyOne where possible
    (:func:`alflow.services.connections.ledger_db`). ``dask_workers``: the step's own Dask
    worker count for the rounds it scores (``StepOptions.dask_workers``).
    """
    db = connections.ledger_db() if ledger_only else connections.db()
    return Workspace(ledger=Ledger(db), dask_workers=dask_workers)


@cache
def git_revision() -> str | None:
    """Short git revision of the checkout alflow runs from, if it is one."""
    root = Path(__file__).resolve().parents[2]  # alflow/loop/workspace.py -> the checkout
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=10", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def version_string() -> str:
    """Package version plus git revision (e.g. ``0.1.0+g1a2b3c4d5e``): the flow version."""
    rev = git_revision()
    return f"{alflow.__version__}+g{rev}" if rev else alflow.__version__
