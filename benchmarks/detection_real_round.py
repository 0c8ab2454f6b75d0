"""A detection round through alflow's real steps at scale: FiftyOne, the box cache, write-back.

    .venv/bin/python benchmarks/detection_real_round.py                   # 100k images x 5 boxes
    .venv/bin/python benchmarks/detection_real_round.py --smoke           # 2,000 images

Where ``detection_round_scale.py`` times the round's arithmetic on arrays, this one runs the
steps a task runs (``alflow.rounds``: register, round-0 fit, query, export and ingest with the
simulated annotator, teach) on a FiftyOne dataset of synthetic images: ``--boxes`` proposals
per image, each with a ``--dim`` embedding stored as FiftyOne stores arrays (kind 'attribute'
box features: no image files are needed), a ground truth of the objects the proposals lie on,
an image-level feature and image sizes in the metadata. The dataset is built once per size by
bulk insert and reused; its build is reported apart. The box pool (every proposal's
embedding) is timed read from FiftyOne and from alflow's box cache, which the steps use.
Writes ``detection_real_round[_smoke].json`` in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("ALFLOW_HOME", str(Path(tempfile.gettempdir()) / "alflow-bench-home"))
os.environ.setdefault("FIFTYONE_SHOW_PROGRESS_BARS", "false")

import numpy as np  # noqa: E402

from alflow.services import configured  # noqa: F401, E402  (before Prefect and FiftyOne)

# isort: split

from round_scale import Steps  # noqa: E402

CLASSES = 5
EVAL_FRACTION = 0.02
SIZE = 640  # pixels: the images are never opened, their size is in the metadata


def synthetic_image(rng, boxes: int, dim: int, centres: np.ndarray):
    """One image's proposals (relative boxes, embeddings), its objects and its feature."""
    objects = max(1, boxes // 2)
    xy = rng.uniform(0.05, 0.7, size=(objects, 2))
    wh = rng.uniform(0.1, 0.25, size=(objects, 2))
    truth = np.concatenate([xy, wh], axis=1)
    classes = rng.integers(0, CLASSES, objects)
    proposals, embeddings = [], []
    for i in range(boxes):
        on = i < objects
        box = truth[i] + rng.normal(0, 0.01, 4) if on else np.r_[rng.uniform(0, 0.7, 2), wh[0]]
        proposals.append(np.clip(box, 0.0, [0.7, 0.7, 0.29, 0.29]))
        centre = centres[classes[i]] if on else centres[CLASSES]
        embeddings.append((centre + rng.normal(0, 1.5, dim)).astype(np.float32))
    return proposals, embeddings, truth, classes


def build_dataset(name: str, n: int, boxes: int, dim: int, seed: int = 0):
    """A dataset of ``n`` synthetic images, built once by bulk insert of raw documents."""
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
    centres = rng.normal(0, 2, size=(CLASSES + 1, dim))

    def detections(bxs, labels, embeddings=None):
        return fo.Detections(
            detections=[
                fo.Detection(
                    label=label,
                    bounding_box=[float(v) for v in b],
                    **({} if embeddings is None else {"embedding": embeddings[i]}),
                )
                for i, (b, label) in enumerate(zip(bxs, labels, strict=True))
            ]
        )

    dataset = fo.Dataset(name)
    dataset.persistent = True
    proposals, embeddings, truth, classes = synthetic_image(rng, boxes, dim, centres)
    dataset.add_sample(
        fo.Sample(
            filepath="/nonexistent/i0.png",
            metadata=fo.ImageMetadata(width=SIZE, height=SIZE),
            feature=np.zeros(8, dtype=np.float32),
            proposals=detections(proposals, ["object"] * boxes, embeddings),
            ground_truth=detections(truth, [f"c{c}" for c in classes]),
        )
    )
    collection = store.samples_collection(dataset)
    template = collection.find_one({})
    proposal_doc = template["proposals"]["detections"][0]
    truth_doc = template["ground_truth"]["detections"][0]
    for start in range(1, n, 5_000):
        docs = []
        for i in range(start, min(n, start + 5_000)):
            proposals, embeddings, truth, classes = synthetic_image(rng, boxes, dim, centres)
            doc = dict(template, _id=ObjectId(), filepath=f"/nonexistent/i{i}.png")
            doc["_rand"] = float(rng.random())
            doc["feature"] = serialize_numpy_array(rng.normal(0, 1, 8).astype(np.float32))
            doc["proposals"] = dict(template["proposals"], _id=ObjectId())
            doc["proposals"]["detections"] = [
                dict(
                    proposal_doc,
                    _id=ObjectId(),
                    bounding_box=[float(v) for v in b],
                    embedding=serialize_numpy_array(e),
                )
                for b, e in zip(proposals, embeddings, strict=True)
            ]
            doc["ground_truth"] = dict(template["ground_truth"], _id=ObjectId())
            doc["ground_truth"]["detections"] = [
                dict(truth_doc, _id=ObjectId(), label=f"c{c}", bounding_box=[float(v) for v in b])
                for b, c in zip(truth, classes, strict=True)
            ]
            docs.append(doc)
        collection.insert_many(docs, ordered=False)
    dataset.reload()
    return dataset


def seed_initial(dataset, n: int, seed: int = 0) -> str:
    """``n`` images' ground truth copied into ``initial_boxes`` (once per count)."""
    field = f"initial_{n}"
    if field not in dataset.get_field_schema():
        ids = dataset.values("id")
        picked = list(np.random.default_rng(seed).choice(ids, n, replace=False))
        view = dataset.select(picked)
        view.set_values(field, view.values("ground_truth"))
    return field


def run(args) -> dict:
    from alflow import rounds
    from alflow.config.loop import LoopConfig
    from alflow.loop.workspace import open_workspace
    from alflow.services import fiftyone_database

    fiftyone_database.connect()
    name = f"bench-boxes-{args.images}x{args.boxes}x{args.dim}"
    build = Steps()
    print(f"detection round (real path): {args.images} images x {args.boxes} boxes x {args.dim}")
    dataset = build.time(
        "build dataset (once, reused)",
        lambda: build_dataset(name, args.images, args.boxes, args.dim),
    )
    initial = build.time("seed initial labels (once)", lambda: seed_initial(dataset, args.initial))
    ws = open_workspace()
    loop = "bench-boxes"
    rounds.delete_loop(ws, loop, missing_ok=True)
    config = LoopConfig(
        name=loop,
        dataset=name,
        task="detection",
        detection={
            "proposals": {"field": "proposals"},
            "box_features": {"kind": "attribute", "attribute": "embedding"},
        },
        features={"fields": ["feature"]},
        initial_labels={"kind": "field", "field": initial},
        ground_truth_field="ground_truth",
        estimator={"kind": args.estimator},
        strategy={"name": "margin"},
        batch_size=args.batch,
        eval_fraction=args.eval_fraction,
    )
    steps = Steps()
    steps.time("register loop (split + labels)", lambda: rounds.register_loop(ws, config))
    round0 = steps.time("round 0 fit + write-back + mAP", lambda: rounds.fit_initial(ws, loop))
    number = rounds.open_round(ws, loop)
    steps.time("box pool cold (FiftyOne, all images)", lambda: _pool(ws, loop, refresh=True))
    steps.time("box pool warm (cache)", lambda: _pool(open_workspace(), loop))
    steps.time("query", lambda: rounds.query(open_workspace(), loop, number))
    steps.time("export (oracle)", lambda: rounds.export(open_workspace(), loop, number))
    steps.time("ingest", lambda: rounds.ingest(open_workspace(), loop, number))
    with teach_parts() as parts:
        taught = steps.time(
            "teach: refit + write-back + mAP",
            lambda: rounds.teach_round(open_workspace(), loop, number),
        )
    for part, seconds in parts.items():
        steps.seconds[f"teach part: {part}"] = round(seconds, 3)
        print(f"    of which {part:<30} {seconds:9.2f} s")
    steps.add(
        "round (query + export + ingest + teach)",
        ["query", "export (oracle)", "ingest", "teach: refit + write-back + mAP"],
    )
    rounds.delete_loop(ws, loop)
    return {
        "images": args.images,
        "boxes_per_image": args.boxes,
        "dim": args.dim,
        "estimator": args.estimator,
        "batch": args.batch,
        "initial": args.initial,
        "eval_fraction": args.eval_fraction,
        "rounds": [_metrics(round0), _metrics(taught)],
        "one_time": {"seconds": build.seconds},
        "seconds": steps.seconds,
        "step_peak_rss_mb": steps.peaks,
        "load_average": steps.load,
        "cpus": os.cpu_count(),
    }


@contextmanager
def teach_parts() -> Iterator[dict[str, float]]:
    """Seconds of the teach's three parts (refit; predict, suppress and write back; FiftyOne's
    evaluation), timed by wrapping the functions ``detection.advance`` calls for the block."""
    from alflow.learning import box_evaluation
    from alflow.rounds import detection

    seconds: dict[str, float] = {}
    wrapped = [
        (detection, "fit_box_state", "refit"),
        (detection, "write_predictions", "predict + write-back"),
        (box_evaluation, "mean_average_precision", "evaluate_detections"),
    ]

    def timer(fn, part):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                seconds[part] = seconds.get(part, 0.0) + time.perf_counter() - start

        return timed

    originals = [(module, name, getattr(module, name)) for module, name, _ in wrapped]
    for (module, name, part), (_, _, fn) in zip(wrapped, originals, strict=True):
        setattr(module, name, timer(fn, part))
    try:
        yield seconds
    finally:
        for module, name, fn in originals:
            setattr(module, name, fn)


def _pool(ws, loop: str, refresh: bool = False):
    """The loop's box pool: read from FiftyOne again with ``refresh``, else from the cache."""
    from alflow.rounds import detection

    return detection.box_pool(ws, ws.config(loop), refresh=refresh)


def _metrics(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k not in ("loop", "seconds")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--boxes", type=int, default=5, help="proposals per image")
    parser.add_argument("--dim", type=int, default=32, help="per-box embedding dimensions")
    parser.add_argument("--initial", type=int, default=1_000, help="initially labelled images")
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--eval-fraction", type=float, default=EVAL_FRACTION, help="held out")
    parser.add_argument("--estimator", default="logistic_regression")
    parser.add_argument("--smoke", action="store_true", help="2,000 images, 100 labelled")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    if args.smoke:
        args.images, args.initial, args.batch, args.eval_fraction = 2_000, 100, 20, 0.1
    started = time.monotonic()
    record = run(args)
    record["total_seconds"] = round(time.monotonic() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    held_out = (
        "" if args.smoke or args.eval_fraction == EVAL_FRACTION else f"_eval-{args.eval_fraction:g}"
    )
    path = args.out / f"detection_real_round{'_smoke' if args.smoke else ''}{held_out}.json"
    path.write_text(json.dumps(record, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
