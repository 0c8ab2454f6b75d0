"""Detection label efficiency: mAP against images and against boxes labelled, per aggregation.

    .venv/bin/python benchmarks/detection_efficiency.py               # 10 seeds (tens of minutes)
    .venv/bin/python benchmarks/detection_efficiency.py --smoke       # seconds: CI's size

Each run is :func:`alflow.demo.detection_simulation.simulate_detection` on the detection demo's
canvases (digits pasted on 64 px images, classical proposals, crop features, a random forest
box classifier): the margin of each box, suppressed class-wise and aggregated per image by
sum, mean, max or top-3 mean, with and without diversity (one image per k-means cluster of the
most uncertain candidates' thumbnails), against random images. mAP@[.5:.95] and mAP@.5 of the
held-out images come from FiftyOne's ``evaluate_detections``. The summary gives, for each
strategy, the images and boxes it needed to reach random's mAP at the final budget.

Writes ``detection_efficiency[_smoke].json`` in ``--out`` (default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("ALFLOW_HOME", str(Path(tempfile.gettempdir()) / "alflow-bench-home"))
os.environ.setdefault("FIFTYONE_SHOW_PROGRESS_BARS", "false")

from alflow.services import configured  # noqa: E402, F401  (before FiftyOne)

# isort: split

import numpy as np  # noqa: E402

from alflow.demo import configs, detection_data  # noqa: E402
from alflow.demo.detection_simulation import read_pool, simulate_detection  # noqa: E402

AGGREGATIONS = ("sum", "mean", "max", "top_k_mean")
FULL = {"images": 1000, "initial": 20, "batch": 20, "budget": 300, "seeds": list(range(10))}
SMOKE = {"images": 120, "initial": 10, "batch": 10, "budget": 30, "seeds": [0]}


def strategies() -> list[dict]:
    out = [{"name": "random", "selection": "random", "aggregation": "sum", "diversity": False}]
    for aggregation in AGGREGATIONS:
        for diversity in (False, True):
            name = aggregation + ("+diversity" if diversity else "")
            out.append(
                {
                    "name": name,
                    "selection": "uncertainty",
                    "aggregation": aggregation,
                    "diversity": diversity,
                }
            )
    return out


def cost_to_reach(rows: list[dict], target: float, key: str) -> int | None:
    """The images (or boxes) labelled when the curve first reaches ``target`` mAP."""
    for row in rows:
        if row["mAP"] >= target:
            return row[key]
    return None


def summarise(runs: list[dict], budget: int) -> dict:
    """Per strategy: mean mAP at each round, and the images and boxes needed to reach random's
    mean final mAP (as shares of what random used)."""
    by_name: dict[str, list[dict]] = {}
    for run in runs:
        by_name.setdefault(run["strategy"], []).append(run)
    random_runs = by_name["random"]
    target = float(np.mean([r["rows"][-1]["mAP"] for r in random_runs]))
    random_boxes = float(np.mean([r["rows"][-1]["boxes"] for r in random_runs]))
    out = {"random_final_mAP": target, "random_final_boxes": random_boxes, "strategies": {}}
    for name, group in by_name.items():
        images = [cost_to_reach(r["rows"], target, "images") for r in group]
        boxes = [cost_to_reach(r["rows"], target, "boxes") for r in group]
        reached = [i for i in images if i is not None]
        out["strategies"][name] = {
            "final_mAP": float(np.mean([r["rows"][-1]["mAP"] for r in group])),
            "final_mAP50": float(np.mean([r["rows"][-1]["mAP50"] for r in group])),
            "runs_reaching_random": len(reached),
            "mean_images_to_random": float(np.mean(reached)) if reached else None,
            "image_share": float(np.mean(reached)) / budget if reached else None,
            "mean_boxes_to_random": (
                float(np.mean([b for b in boxes if b is not None])) if reached else None
            ),
            "box_share": (
                float(np.mean([b for b in boxes if b is not None])) / random_boxes
                if reached
                else None
            ),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="one seed, a tiny dataset")
    parser.add_argument("--seeds", type=int, help="how many seeds (default: 10, smoke 1)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    setup = dict(SMOKE if args.smoke else FULL)
    if args.seeds:
        setup["seeds"] = list(range(args.seeds))
    rounds = (setup["budget"] - setup["initial"]) // setup["batch"]
    started = time.monotonic()
    dataset = detection_data.build_detection_dataset(
        setup["images"], name=f"bench-digit-boxes-{setup['images']}"
    )
    detection = configs.detection_demo_config()
    pool = read_pool(dataset, detection, detection_data.GROUND_TRUTH, detection_data.IMAGE_FEATURES)
    runs = []
    for seed in setup["seeds"]:
        for strategy in strategies():
            t = time.monotonic()
            rows = simulate_detection(
                dataset,
                pool,
                detection.model_copy(update={"aggregation": strategy["aggregation"]}),
                configs.detection_demo_estimator(),
                detection_data.GROUND_TRUTH,
                selection=strategy["selection"],
                diversity=strategy["diversity"],
                initial=setup["initial"],
                batch_size=setup["batch"],
                rounds=rounds,
                random_state=seed,
            )
            runs.append({"strategy": strategy["name"], "seed": seed, "rows": rows})
            last = rows[-1]
            print(
                f"seed {seed} {strategy['name']:<22} {last['images']} images {last['boxes']} "
                f"boxes mAP {last['mAP']:.3f} mAP@.5 {last['mAP50']:.3f} "
                f"({time.monotonic() - t:.0f} s)",
                flush=True,
            )
        write_record(args.out, args.smoke, setup, started, runs)
    summary = write_record(args.out, args.smoke, setup, started, runs)
    print(f"\nrandom's final mAP {summary['random_final_mAP']:.3f} at {setup['budget']} images")
    print(f"{'strategy':<22} {'final mAP':>9} {'images to random':>17} {'boxes to random':>16}")
    for name, s in summary["strategies"].items():
        images = f"{s['image_share']:.0%}" if s["image_share"] is not None else "-"
        boxes = f"{s['box_share']:.0%}" if s["box_share"] is not None else "-"
        print(f"{name:<22} {s['final_mAP']:>9.3f} {images:>17} {boxes:>16}")
    print(f"wrote {result_path(args.out, args.smoke)} ({time.monotonic() - started:.0f} s)")
    return 0


def result_path(out: Path, smoke: bool) -> Path:
    return out / f"detection_efficiency{'_smoke' if smoke else ''}.json"


def write_record(out: Path, smoke: bool, setup: dict, started: float, runs: list[dict]) -> dict:
    """The summary of the seeds run so far, written after every seed so that a long run
    stopped part-way still leaves its figures (``seeds_done`` says how many)."""
    summary = summarise(runs, setup["budget"])
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "setup": setup,
        "seeds_done": sorted({r["seed"] for r in runs}),
        "seconds": time.monotonic() - started,
        "summary": summary,
        "runs": runs,
    }
    result_path(out, smoke).write_text(json.dumps(record, indent=1))
    return summary


if __name__ == "__main__":
    raise SystemExit(main())
