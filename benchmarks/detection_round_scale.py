"""A detection round's box work at scale: 100,000 images x 5 boxes, synthetic boxes and features.

    .venv/bin/python benchmarks/detection_round_scale.py                  # 100k images
    .venv/bin/python benchmarks/detection_round_scale.py --smoke          # 2,000 images

Times the steps a detection round adds to a classification round's: fitting the box
classifier on the labelled images' boxes, scoring every box (in chunks, as the classification
round scores rows), class-wise suppression and aggregation into image scores, and the batch.
Boxes are clustered around a few objects per image (so suppression has work), per-box
features are Gaussian around their class's centre. Prints each step's seconds and the peak
resident memory, and writes ``detection_round_scale[_smoke].json`` in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alflow.boxes.image_scores import image_scores, select_images  # noqa: E402
from alflow.boxes.predictions import BoxPredictions, from_proba  # noqa: E402
from alflow.config.detection import BACKGROUND  # noqa: E402
from alflow.config.estimators import LogisticRegressionConfig, RandomForestConfig  # noqa: E402
from alflow.learning.box_learner import fit_boxes  # noqa: E402

CHUNK = 50_000


def synthetic(n_images: int, per_image: int, dim: int, classes: int, seed: int):
    """Boxes (``per_image`` per image, overlapping in pairs), their classes and features."""
    rng = np.random.default_rng(seed)
    n = n_images * per_image
    sample = np.repeat(np.arange(n_images), per_image)
    centre = rng.uniform(0.1, 0.6, size=(n, 2))
    centre[1::2] = centre[::2][: len(centre[1::2])] + rng.normal(0, 0.01, (len(centre[1::2]), 2))
    boxes = np.concatenate([np.clip(centre, 0, 0.6), rng.uniform(0.1, 0.3, (n, 2))], axis=1)
    names = np.array([str(c) for c in range(classes)] + [BACKGROUND], dtype=object)
    truth = rng.integers(0, classes + 1, size=n)
    centres = rng.normal(0, 1, size=(classes + 1, dim)).astype(np.float32)
    X = centres[truth] + rng.normal(0, 1.5, size=(n, dim)).astype(np.float32)
    return sample, boxes, names[truth], X


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--boxes", type=int, default=5, help="boxes per image")
    parser.add_argument("--dim", type=int, default=64, help="per-box feature dimensions")
    parser.add_argument("--labelled", type=int, default=1_000, help="labelled images")
    parser.add_argument("--estimator", choices=["lr", "rf"], default="lr")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--smoke", action="store_true", help="2,000 images")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    if args.smoke:
        args.images, args.labelled = 2_000, 200
    steps: dict[str, float] = {}

    def timed(name, work):
        start = time.perf_counter()
        out = work()
        steps[name] = time.perf_counter() - start
        print(f"{name:<34} {steps[name]:7.2f} s   peak RSS {peak_mib():7.0f} MiB", flush=True)
        return out

    sample, boxes, truth, X = timed(
        "synthetic boxes (not a round step)",
        lambda: synthetic(args.images, args.boxes, args.dim, 10, 0),
    )
    estimator = (
        LogisticRegressionConfig() if args.estimator == "lr" else RandomForestConfig(n_jobs=2)
    )
    taught = sample < args.labelled
    learner = timed("fit box classifier", lambda: fit_boxes(estimator, X[taught], truth[taught], 0))

    def score() -> BoxPredictions:
        proba = np.concatenate(
            [learner.model.predict_proba(X[i : i + CHUNK]) for i in range(0, len(X), CHUNK)]
        )
        return from_proba(sample, boxes, proba, learner.classes, args.images)

    pred = timed("score every box (chunked)", score)
    scores = timed("NMS + aggregation -> image scores", lambda: image_scores(pred, "margin", "sum"))
    pool = np.arange(args.labelled, args.images)
    batch = timed("select the batch", lambda: select_images(scores, pool, args.batch))
    round_seconds = sum(v for k, v in steps.items() if not k.startswith("synthetic"))
    print(f"{'round total':<34} {round_seconds:7.2f} s   ({len(batch)} images picked)")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"detection_round_scale{'_smoke' if args.smoke else ''}.json"
    record = {
        "images": args.images,
        "boxes_per_image": args.boxes,
        "dim": args.dim,
        "labelled_images": args.labelled,
        "estimator": args.estimator,
        "seconds": steps,
        "round_seconds": round_seconds,
        "peak_rss_mib": peak_mib(),
        "picked": len(batch),
    }
    path.write_text(json.dumps(record, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
