"""How a round scales with the pool: seconds and peak memory per step on a synthetic dataset.

    .venv/bin/python benchmarks/round_scale.py --size 100000 --dim 512 --estimator rf \\
        --strategy typiclust_margin --batch 50 --initial 1000
    .venv/bin/python benchmarks/round_scale.py --size 1000000 --dim 512 --dask-workers 2
    .venv/bin/python benchmarks/round_scale.py --smoke          # CI size

Builds (once per size and dimension, then reused) a FiftyOne dataset whose ``embedding`` field
is drawn from Gaussian class clusters; that one-time build is reported apart from the round.
Then times each step through the code the tasks run (``alflow.rounds``): registering the loop
(split and initial labels), the features read cold from FiftyOne and warm from the cache, the
round-0 fit, the query, export/ingest with the simulated annotator, and the teach with its
evaluation and write-back; "round" is query + teach. With ``--dask-workers K`` every scoring
pass runs on a local Dask cluster of K single-threaded workers, and one scoring pass of the
whole pool is also timed on 1 and on K workers (the cluster's start-up apart).

Peak RSS per step is the kernel's ``VmHWM`` since the step began: it *includes* the pages of
the memory-mapped feature cache that the step touched (file-backed, which the kernel can drop
under pressure), and not the Dask workers' memory (other processes). Every figure is printed
with the load average at its end (the machine may be shared: compare ratios). Writes JSON
(``benchmarks/results/round_scale.json``). Uses its own ALFLOW_HOME unless one is set.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("ALFLOW_HOME", str(Path(tempfile.gettempdir()) / "alflow-bench-home"))

import numpy as np  # noqa: E402

from alflow.services import configured  # noqa: F401, E402  (before Prefect and FiftyOne)

# isort: split

from alflow.demo.simulation import ESTIMATOR_NAMES, estimator_config  # noqa: E402

RSS_NOTE = (
    "peak RSS = VmHWM per step: counts the memory-mapped cache pages the step touched; "
    "Dask workers' memory is not in it"
)


def build_dataset(name: str, n: int, dim: int, classes: int, seed: int = 0):
    """A synthetic dataset, built once per size and reused.

    One sample goes through FiftyOne (declaring the schema); the others are copies of its raw
    document inserted in bulk with their own ids, vectors (FiftyOne's own serialisation) and
    labels: ``add_samples`` validates every sample and needs hours for a million.
    """
    import fiftyone as fo
    from bson import ObjectId
    from fiftyone.core.utils import serialize_numpy_array

    from alflow.data import store

    if fo.dataset_exists(name):
        dataset = fo.load_dataset(name)
        if len(dataset) == n:
            return dataset
        dataset.delete()
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, size=(classes, dim)).astype(np.float32)
    dataset = fo.Dataset(name)
    dataset.persistent = True
    dataset.add_sample(
        fo.Sample(
            filepath="/nonexistent/s0.png",
            embedding=centers[0],
            ground_truth=fo.Classification(label="c0"),
        )
    )
    collection = store.samples_collection(dataset)
    template = collection.find_one({})
    chunk = 10_000
    for start in range(1, n, chunk):
        size = min(chunk, n - start)
        y = rng.integers(0, classes, size)
        X = centers[y] + rng.normal(0, 2.5, size=(size, dim)).astype(np.float32)
        docs = []
        for i in range(size):
            doc = dict(template, _id=ObjectId(), filepath=f"/nonexistent/s{start + i}.png")
            doc["embedding"] = serialize_numpy_array(X[i])
            doc["ground_truth"] = dict(template["ground_truth"], _id=ObjectId(), label=f"c{y[i]}")
            doc["_rand"] = float(rng.random())
            docs.append(doc)
        collection.insert_many(docs, ordered=False)
    dataset.reload()
    return dataset


def seed_labels(dataset, n_labels: int, seed: int = 0) -> str:
    """A field of ``n_labels`` initial labels (one per class first), built once per count."""
    import fiftyone as fo

    field = f"seed_{n_labels}"
    if field in dataset.get_field_schema():
        return field
    from alflow.data import store

    ids, truth = store.values_where(dataset, {}, "ground_truth.label")
    truth = np.asarray(truth)
    first = [int(np.flatnonzero(truth == c)[0]) for c in np.unique(truth)]
    rest = np.setdiff1d(np.arange(len(ids)), first)
    picked = first + list(np.random.default_rng(seed).permutation(rest)[: n_labels - len(first)])
    values = {ids[i]: fo.Classification(label=str(truth[i])) for i in picked}
    dataset.set_values(field, values, key_field="id")
    return field


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux), so each step's own peak can be read."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def current_peak_rss_mb() -> float | None:
    """The peak RSS since the last reset (``VmHWM``), or None where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


class Steps:
    """Seconds, peak RSS and load average of each timed step, printed as they finish."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.peaks: dict[str, float | None] = {}
        self.load: dict[str, float] = {}

    def time(self, name: str, fn):
        resettable = reset_peak_rss()
        start = time.perf_counter()
        value = fn()
        self.seconds[name] = round(time.perf_counter() - start, 3)
        self.peaks[name] = current_peak_rss_mb() if resettable else None
        self.load[name] = round(os.getloadavg()[0], 2)
        self.show(name)
        return value

    def add(self, name: str, parts: list[str]) -> None:
        """A step that is the sum of others (its peak is theirs)."""
        self.seconds[name] = round(sum(self.seconds[p] for p in parts), 3)
        known = [self.peaks[p] for p in parts if self.peaks[p] is not None]
        self.peaks[name] = max(known) if known else None
        self.load[name] = round(os.getloadavg()[0], 2)
        self.show(name)

    def show(self, name: str) -> None:
        peak = self.peaks[name]
        rss = f"  peak RSS {peak:8.1f} MB" if peak is not None else ""
        print(f"  {name:<40} {self.seconds[name]:9.2f} s{rss}  load {self.load[name]:5.2f}")
        sys.stdout.flush()


def scoring_passes(steps: Steps, ws, config, loop: str, workers: int) -> None:
    """One scoring pass of the whole pool in process, and on Dask with 1 and ``workers``."""
    from alflow.learning import dask_cluster, scoring
    from alflow.rounds import training

    state = training.load_learner(ws, loop, 10**6)
    fm = ws.features(config)
    chunk = config.scoring.chunk_size
    steps.time(
        "scoring pass (in process)",
        lambda: scoring.Scorer(state.learner, state.classes, chunk).score(fm),
    )
    for k in sorted({1, workers}):
        with dask_cluster.client_for(dask_cluster.Target(workers=k)) as client:
            scorer = scoring.Scorer(state.learner, state.classes, chunk, client)
            scorer.score(fm, np.arange(min(len(fm.ids), 2 * k)))  # workers warm: imports done
            name = f"scoring pass (Dask, {k} worker{'s' * (k > 1)})"
            steps.time(name, lambda scorer=scorer: scorer.score(fm))


def run(args) -> dict:
    from alflow import rounds
    from alflow.config.loop import LoopConfig
    from alflow.loop.workspace import open_workspace
    from alflow.services import fiftyone_database

    # before FiftyOne is used: alflow's lasting database, as commands use it
    fiftyone_database.connect()
    dataset_name = f"bench-{args.size}x{args.dim}"
    build = Steps()
    print(f"round scale: {args.size} samples x {args.dim} dims")
    dataset = build.time(
        "build dataset (once per size, reused)",
        lambda: build_dataset(dataset_name, args.size, args.dim, args.classes),
    )
    field = build.time(
        f"seed {args.initial} labels (once)", lambda: seed_labels(dataset, args.initial)
    )
    print(
        f"round: estimator {args.estimator}, strategy {args.strategy}, batch {args.batch}, "
        f"{args.initial} initial labels, dask workers {args.dask_workers or 'none'}, "
        f"write-back threshold {args.write_back_threshold or 'default'}"
    )
    ws = open_workspace()
    loop = "bench"
    rounds.delete_loop(ws, loop, missing_ok=True)
    config = LoopConfig(
        name=loop,
        dataset=dataset_name,
        features={"fields": ["embedding"]},
        initial_labels={"kind": "field", "field": field},
        ground_truth_field="ground_truth",
        estimator=_estimator(args),
        strategy={"name": args.strategy},
        batch_size=args.batch,
        scoring={}
        if args.write_back_threshold is None
        else {"write_back_threshold": args.write_back_threshold},
        eval_fraction=0.1,
    )
    steps = Steps()
    steps.time("register loop (split + labels)", lambda: rounds.register_loop(ws, config))
    steps.time("features cold (FiftyOne + cache)", lambda: ws.features(config, refresh=True))
    steps.time("features warm (cache)", lambda: open_workspace().features(config))
    initial = steps.time(
        "round 0 fit + eval + predictions",
        lambda: rounds.fit_initial(open_workspace(dask_workers=args.dask_workers or None), loop),
    )
    number = rounds.open_round(ws, loop)
    steps.time("query", lambda: rounds.query(open_workspace(), loop, number))
    steps.time("export (oracle)", lambda: rounds.export(open_workspace(), loop, number))
    steps.time("ingest", lambda: rounds.ingest(open_workspace(), loop, number))
    taught = steps.time(
        "teach + eval + predictions",
        lambda: rounds.teach_round(
            open_workspace(dask_workers=args.dask_workers or None), loop, number
        ),
    )
    steps.add("round (query + teach)", ["query", "teach + eval + predictions"])
    if args.dask_workers:
        scoring_passes(steps, ws, config, loop, args.dask_workers)
    rounds.delete_loop(ws, loop)
    print(f"  ({RSS_NOTE})")
    return {
        "samples": args.size,
        "dim": args.dim,
        "batch": args.batch,
        "initial": args.initial,
        "estimator": args.estimator,
        "estimator_config": config.estimator.model_dump(mode="json"),
        "strategy": args.strategy,
        "dask_workers": args.dask_workers,
        "write_back_threshold": config.scoring.write_back_threshold,
        # what the two rounds did (state, queried, labelled, accuracy): the figures time them
        "rounds": [_outcome(initial), _outcome(taught)],
        "one_time": {"seconds": build.seconds, "load_average": build.load},
        "seconds": steps.seconds,
        "step_peak_rss_mb": steps.peaks,
        "load_average": steps.load,
        "peak_rss_mb": max(
            [round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)]
            + [p for p in steps.peaks.values() if p]
        ),
        "rss_note": RSS_NOTE,
        "cpus": os.cpu_count(),
    }


def _outcome(summary: dict) -> dict:
    """A round's summary without its loop name and wall time (timed above, step by step)."""
    return {k: v for k, v in summary.items() if k not in ("loop", "seconds")}


def _estimator(args):
    """The loop's estimator: the simulation's configuration of that name, bounded as asked."""
    config = estimator_config(args.estimator)
    if args.max_unlabelled is not None and hasattr(config, "max_unlabelled"):
        config = config.model_copy(update={"max_unlabelled": args.max_unlabelled})
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", "--samples", dest="size", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--initial", type=int, default=1_000, help="initial labels")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument(
        "--estimator",
        choices=ESTIMATOR_NAMES,
        default="rf",
        help="as `alflow simulate --estimator` names them (ls, lp, lsr: label spreading or "
        "propagation; st: self-training around LR)",
    )
    parser.add_argument(
        "--max-unlabelled",
        type=int,
        help="the graph learners' bound on unlabelled pool samples (default: the "
        "configuration's, 10,000)",
    )
    parser.add_argument("--strategy", default="typiclust_margin")
    parser.add_argument("--dask-workers", type=int, default=0, help="score on K Dask workers")
    parser.add_argument(
        "--write-back-threshold",
        type=float,
        default=None,
        help="the loop's scoring.write_back_threshold (default: the configuration's, 0.005)",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny size for CI")
    parser.add_argument(
        "--json", type=Path, default=ROOT / "benchmarks" / "results" / "round_scale.json"
    )
    args = parser.parse_args()
    if args.smoke:
        args.size, args.dim, args.batch, args.initial, args.estimator = 2_000, 16, 20, 50, "lr"
    result = run(args)
    print(f"  {'peak RSS (whole run)':<40} {result['peak_rss_mb']:9.1f} MB")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
