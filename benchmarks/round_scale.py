"""How a round scales with the pool: seconds and peak memory per step on a synthetic dataset.

    .venv/bin/python benchmarks/round_scale.py --samples 100000 --dim 64
    .venv/bin/python benchmarks/round_scale.py --smoke          # CI size

Builds (once per size) a FiftyOne dataset of ``--samples`` samples whose ``embedding`` field is
drawn from Gaussian class clusters, then times each step of one round through the same code the
tasks run (``alflow.rounds``): feature load from FiftyOne vs. from the cache, round-0 fit, query,
export/ingest with the simulated annotator, teach + prediction write-back. Prints a table and
writes JSON (``benchmarks/results/round_scale.json``). Uses its own ALFLOW_HOME unless one is set.
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

import alflow  # noqa: E402, F401


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_dataset(name: str, n: int, dim: int, classes: int, seed: int = 0):
    """A synthetic dataset; vectors are written in chunks to keep memory flat."""
    import fiftyone as fo

    if fo.dataset_exists(name):
        dataset = fo.load_dataset(name)
        if len(dataset) == n:
            return dataset
        dataset.delete()
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, size=(classes, dim)).astype(np.float32)
    dataset = fo.Dataset(name)
    dataset.persistent = True
    chunk = 20_000
    for start in range(0, n, chunk):
        size = min(chunk, n - start)
        y = rng.integers(0, classes, size)
        X = centers[y] + rng.normal(0, 2.5, size=(size, dim)).astype(np.float32)
        dataset.add_samples(
            [
                fo.Sample(
                    filepath=f"/nonexistent/s{start + i}.png",
                    embedding=X[i],
                    ground_truth=fo.Classification(label=f"c{y[i]}"),
                )
                for i in range(size)
            ],
            progress=False,
        )
    first = {}
    for sid, label in zip(dataset.values("id"), dataset.values("ground_truth.label"), strict=True):
        first.setdefault(label, sid)
    dataset.set_values(
        "seed", {i: fo.Classification(label=c) for c, i in first.items()}, key_field="id"
    )
    return dataset


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


STEP_PEAKS: dict[str, float | None] = {}


def timed(results: dict, name: str, fn):
    resettable = reset_peak_rss()
    t = time.perf_counter()
    value = fn()
    results[name] = round(time.perf_counter() - t, 3)
    STEP_PEAKS[name] = current_peak_rss_mb() if resettable else None
    return value


def run(n: int, dim: int, batch: int, classes: int, estimator: str = "logistic_regression") -> dict:
    from alflow import rounds
    from alflow.config import LoopConfig
    from alflow.workspace import open_workspace

    dataset_name = f"bench-{n}x{dim}"
    seconds: dict[str, float] = {}
    timed(
        seconds,
        "build_dataset (once per size)",
        lambda: build_dataset(dataset_name, n, dim, classes),
    )
    ws = open_workspace()
    loop = "bench"
    rounds.delete_loop(ws, loop, missing_ok=True)
    config = LoopConfig(
        name=loop,
        dataset=dataset_name,
        features={"fields": ["embedding"]},
        initial_labels={"kind": "field", "field": "seed"},
        ground_truth_field="ground_truth",
        estimator={"kind": estimator},  # each kind's defaults (label spreading: 10k unlabelled)
        batch_size=batch,
        eval_fraction=0.1,
    )
    timed(seconds, "register loop (split + labels)", lambda: rounds.register_loop(ws, config))
    timed(
        seconds, "features from FiftyOne + cache write", lambda: ws.features(config, refresh=True)
    )
    timed(seconds, "features from cache", lambda: ws.features(config))
    timed(seconds, "round 0 fit + eval + predictions", lambda: rounds.fit_initial(ws, loop))
    number = rounds.open_round(ws, loop)
    timed(seconds, "query", lambda: rounds.query(ws, loop, number))
    timed(seconds, "export (oracle)", lambda: rounds.export(ws, loop, number))
    timed(seconds, "ingest", lambda: rounds.ingest(ws, loop, number))
    timed(seconds, "teach + eval + predictions", lambda: rounds.teach_round(ws, loop, number))
    rounds.delete_loop(ws, loop)
    return {
        "samples": n,
        "dim": dim,
        "batch": batch,
        "estimator": estimator,
        "seconds": seconds,
        # resetting the mark per step also resets ru_maxrss: the run's peak is the steps' largest
        "peak_rss_mb": max([round(peak_rss_mb(), 1)] + [p for p in STEP_PEAKS.values() if p]),
        "step_peak_rss_mb": dict(STEP_PEAKS),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--smoke", action="store_true", help="tiny size for CI")
    parser.add_argument(
        "--estimator",
        default="logistic_regression",
        help="an estimator kind with its defaults, e.g. random_forest, label_spreading",
    )
    parser.add_argument(
        "--json", type=Path, default=ROOT / "benchmarks" / "results" / "round_scale.json"
    )
    args = parser.parse_args()
    if args.smoke:
        args.samples, args.dim, args.batch = 2_000, 16, 20
    result = run(args.samples, args.dim, args.batch, args.classes, args.estimator)
    width = max(map(len, result["seconds"]))
    print(
        f"round scale: {result['samples']} samples x {result['dim']} dims, batch {result['batch']}"
    )
    peaks = result["step_peak_rss_mb"]
    for step, secs in result["seconds"].items():
        peak = f"  peak RSS {peaks[step]:7.1f} MB" if peaks.get(step) is not None else ""
        print(f"  {step:<{width}}  {secs:8.2f} s{peak}")
    print(f"  {'peak RSS (whole run)':<{width}}  {result['peak_rss_mb']:8.1f} MB")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
