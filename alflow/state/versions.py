"""Versions of saved state: what wrote a checkpoint, and schema upgrades of stored records.

A learner checkpoint is a pickle of scikit-learn, modAL and alflow objects: it loads faithfully
only with the scikit-learn and modAL versions that wrote it. Every checkpoint's ledger entry
therefore records :func:`environment` and :func:`check_checkpoint` refuses, naming both
versions, to load one written by another scikit-learn or modAL (a NumPy or alflow difference is
logged: their pickles stay compatible, and alflow keeps every pickled name importable; see
``alflow/learning/learners.py``). A checkpoint written before versions were recorded (alflow 0.1.0)
is loaded, and scikit-learn's own version warning on unpickling is turned into the same refusal.

Stored records (a loop's configuration, a backend's reference) carry a schema version.
:func:`upgrade` brings an older record to the current version through one function per step
(``UPGRADES[kind][n]`` turns version ``n`` into ``n + 1``) and refuses a newer one, saying to
upgrade alflow.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from alflow.errors import LedgerError

log = logging.getLogger(__name__)

# packages whose objects are inside a checkpoint and whose version must match to load it
STRICT = ("scikit-learn", "modAL-python")
REINSTALL = (
    "install the versions that wrote it (run alflow from the checkout and lockfile that wrote "
    "it: 'make setup'), or roll the loop back to a round written by this environment "
    "('alflow rollback LOOP N'), or create the loop again"
)


def environment() -> dict[str, str]:
    """The versions of alflow and the libraries whose objects a checkpoint holds."""
    import alflow

    out = {"alflow": alflow.__version__}
    for package in ("scikit-learn", "modAL-python", "numpy"):
        out[package] = importlib.metadata.version(package)
    return out


def check_checkpoint(path: object, written: dict[str, str] | None) -> None:
    """Refuse a checkpoint written by another scikit-learn or modAL; log other differences.

    Raises:
        LedgerError: naming the version that wrote it and the version installed.
    """
    if not written:
        return  # written before versions were recorded; unpickling checks scikit-learn itself
    here = environment()
    for package in STRICT:
        if package in written and written[package] != here[package]:
            raise LedgerError(
                f"learner checkpoint {path} was written with {package} {written[package]}, but "
                f"this environment has {package} {here[package]}; a pickled model only loads "
                f"faithfully with the version that wrote it: {REINSTALL}"
            )
    for package in ("numpy", "alflow"):
        if package in written and written[package] != here[package]:
            log.info(
                "checkpoint %s was written with %s %s (here %s)",
                path,
                package,
                written[package],
                here[package],
            )


def refuse_sklearn_mismatch(path: object, warning: Warning) -> None:
    """Turn scikit-learn's InconsistentVersionWarning on unpickling into a LedgerError."""
    original = getattr(warning, "original_sklearn_version", "another version")
    current = getattr(warning, "current_sklearn_version", environment()["scikit-learn"])
    raise LedgerError(
        f"learner checkpoint {path} was written with scikit-learn {original}, but this "
        f"environment has scikit-learn {current}; {REINSTALL}"
    )


Upgrade = Callable[[dict[str, Any]], dict[str, Any]]

CONFIG_VERSION = 1  # alflow.config.loop.SCHEMA_VERSION
REF_VERSION = 1  # the CVAT backend's reference
LS_REF_VERSION = 1  # the Label Studio backend's reference
CURRENT = {
    "loop configuration": CONFIG_VERSION,
    "CVAT reference": REF_VERSION,
    "Label Studio reference": LS_REF_VERSION,
}
# UPGRADES[kind][n] turns a record of version n into version n + 1; every version before the
# current one must have its step here (version 1 is the first: nothing to upgrade yet)
UPGRADES: dict[str, dict[int, Upgrade]] = {
    "loop configuration": {},
    "CVAT reference": {},
    "Label Studio reference": {},
}
VERSION_KEY = {
    "loop configuration": "schema_version",
    "CVAT reference": "version",
    "Label Studio reference": "version",
}


def upgrade(kind: str, record: dict[str, Any], where: str) -> dict[str, Any]:
    """``record`` brought to the current schema version of ``kind``.

    Raises:
        LedgerError: the record is newer than this alflow reads, or no upgrade path exists.
    """
    key, current = VERSION_KEY[kind], CURRENT[kind]
    version = record.get(key, 1)
    if not isinstance(version, int) or version > current:
        raise LedgerError(
            f"{where}: the {kind} has schema version {version!r}, newer than the version "
            f"{current} this alflow {environment()['alflow']} reads; upgrade alflow"
        )
    steps = UPGRADES[kind]
    while version < current:
        if version not in steps:
            raise LedgerError(
                f"{where}: no upgrade of the {kind} from schema version {version} to "
                f"{version + 1}; this alflow reads version {current} (report it as a bug)"
            )
        record = {**steps[version](dict(record)), key: version + 1}
        version += 1
    return record


# Where each module whose objects a checkpoint can pickle lives now, by the path an earlier alflow
# pickled it under (alflow 0.1.0 before its modules were grouped into packages). Pickles name a
# class by module path, so a checkpoint written then names ``alflow.learners.LearnerState``.
MOVED_MODULES = {
    "alflow.learners": "alflow.learning.learners",
    "alflow.semi_supervised": "alflow.learning.semi_supervised",
    "alflow.svc": "alflow.learning.probability_svc",
    "alflow.supervised": "alflow.config.supervised",
    "alflow.estimators": "alflow.config.estimators",
    "alflow.semi_supervised_config": "alflow.config.semi_supervised",
    "alflow.strategies.config": "alflow.config.strategy",
}


@contextmanager
def moved_module_paths() -> Iterator[None]:
    """Make every module path of :data:`MOVED_MODULES` resolve to its module of today while
    a checkpoint is unpickled; the old paths are importable only inside this block."""
    added = [old for old in MOVED_MODULES if old not in sys.modules]
    for old in added:
        sys.modules[old] = importlib.import_module(MOVED_MODULES[old])
    try:
        yield
    finally:
        for old in added:
            sys.modules.pop(old, None)
