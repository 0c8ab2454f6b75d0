"""Cost and checkpoint size of label spreading on a synthetic pool, through the real cache.

Builds a feature cache of ``--samples`` x ``--dim`` Gaussian class clusters (10 classes), holds out
10 %, fits :class:`alflow.config.estimators.LabelSpreadingConfig` on one label per class plus at
most ``--max-unlabelled`` pool rows, and reports: fit time, prediction time for 50,000 samples, the
checkpoint's size against the fitted scikit-learn model pickled alone, and load + rebuild time::

    .venv/bin/python benchmarks/semi_supervised_checkpoint.py --samples 100000 --dim 512
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alflow.config.estimators import LabelSpreadingConfig  # noqa: E402
from alflow.data import features  # noqa: E402
from alflow.learning import learners as lrn  # noqa: E402
from alflow.learning.semi_supervised import cached_pool  # noqa: E402


def synthetic_cache(directory: Path, n: int, d: int, rng: np.random.Generator):
    """A feature cache of ``n`` samples around 10 random centres; returns it and the labels."""
    centres = rng.normal(0, 1, (10, d))
    y = rng.integers(0, 10, n)
    ids = [f"{i:024x}" for i in range(n)]

    def chunks(size: int = 20_000):
        for s in range(0, n, size):
            block = centres[y[s : s + size]] + rng.normal(0, 1.5, (len(y[s : s + size]), d))
            yield ids[s : s + size], {"f": list(block.astype(np.float32))}

    return features.build_cache(directory, chunks(), n, standardized=False), y, ids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--max-unlabelled", type=int, default=10_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        fm, y, ids = synthetic_cache(
            Path(tmp) / "cache", args.samples, args.dim, np.random.default_rng(0)
        )
        labelled = [int(np.flatnonzero(y == c)[-1]) for c in range(10)]
        started = time.monotonic()
        state = lrn.fit_learner(
            LabelSpreadingConfig(max_unlabelled=args.max_unlabelled),
            "margin",
            fm.take([ids[i] for i in labelled]),
            y[labelled].astype(str),
            [ids[i] for i in labelled],
            random_state=0,
            unlabelled=cached_pool(fm.path, ids[: args.samples // 10]),
        )
        fit = time.monotonic() - started
        started = time.monotonic()
        n_predicted = min(50_000, args.samples)
        lrn.predict(state, np.asarray(fm.X[:n_predicted]))
        predict = time.monotonic() - started
        checkpoint, model = Path(tmp) / "round.joblib", Path(tmp) / "model.joblib"
        lrn.save_checkpoint(state, checkpoint)
        joblib.dump([m.model_ for m in lrn.semi_supervised_models(state.learner)], model)
        started = time.monotonic()
        lrn.predict(lrn.load_checkpoint(checkpoint), np.asarray(fm.X[:10]))
        reload = time.monotonic() - started
        print(
            f"{args.samples} x {args.dim}, max_unlabelled {args.max_unlabelled}: fit {fit:.1f} s, "
            f"predict {n_predicted:,} {predict:.1f} s, "
            f"checkpoint {checkpoint.stat().st_size / 1e3:.0f} kB "
            f"(fitted LabelSpreading pickled alone {model.stat().st_size / 1e6:.1f} MB), "
            f"load + rebuild {reload:.1f} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
