"""Offline detection data: scikit-learn's digits pasted, 1 to 4 per image, on larger canvases.

Nothing is downloaded. Each canvas is ``CANVAS`` pixels square, grey, with a little clutter
(specks a proposer mistakes for objects); each pasted digit is scaled 2x or 3x and
has its ground-truth box. Proposals come from the classical proposer
(:mod:`alflow.boxes.proposals`), never from the ground truth. :func:`canvases` is pure;
:func:`build_detection_dataset` writes PNGs and a FiftyOne dataset with image metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

from alflow.boxes.proposals import propose
from alflow.services.environment import state_dir

DATASET = "alflow-digit-boxes"
GROUND_TRUTH = "ground_truth"
PROPOSALS = "proposals"
IMAGE_FEATURES = "thumbnail"  # a 8x8 grey thumbnail per image, for diversity
INITIAL = "initial_boxes"  # the demo loop's first labels: a few canvases' ground truth
CANVAS = 64
THRESHOLD = 80  # grey level above which a pixel is ink (digits reach 255, clutter 60-200)


@dataclass(frozen=True)
class Canvas:
    """One image: grey pixels, its objects' relative boxes and classes, and its proposals."""

    pixels: np.ndarray
    boxes: np.ndarray
    labels: list[str]
    proposals: np.ndarray


def _paste_places(sizes: list[int], rng: np.random.Generator) -> list[tuple[int, int]] | None:
    """Top-left corners for squares of ``sizes`` that do not touch each other, or None."""
    placed: list[tuple[int, int, int]] = []
    for size in sizes:
        for _ in range(50):
            x, y = (int(v) for v in rng.integers(0, CANVAS - size, size=2))
            if all(
                x + size + 2 <= px or px + ps + 2 <= x or y + size + 2 <= py or py + ps + 2 <= y
                for px, py, ps in placed
            ):
                placed.append((x, y, size))
                break
        else:
            return None
    return [(x, y) for x, y, _ in placed]


def _canvas(digits, rng: np.random.Generator, jitter: int) -> Canvas:
    while True:
        count = int(rng.integers(1, 5))
        sizes = [int(rng.choice([16, 24])) for _ in range(count)]
        places = _paste_places(sizes, rng)
        if places is not None:
            break
    pixels = np.zeros((CANVAS, CANVAS), dtype=np.float64)
    for _ in range(int(rng.integers(0, 4))):  # clutter: specks a proposer sees as objects
        x, y = (int(v) for v in rng.integers(0, CANVAS - 6, size=2))
        h, w = (int(v) for v in rng.integers(2, 6, size=2))
        pixels[y : y + h, x : x + w] = rng.uniform(60, 200)
    boxes, labels = [], []
    for (x, y), size in zip(places, sizes, strict=True):
        index = int(rng.integers(len(digits.images)))
        digit = Image.fromarray((digits.images[index] * (255 / 16)).astype(np.uint8))
        patch = np.asarray(digit.resize((size, size), Image.BILINEAR), dtype=np.float64)
        pixels[y : y + size, x : x + size] = np.maximum(pixels[y : y + size, x : x + size], patch)
        ink_rows, ink_cols = np.nonzero(patch > THRESHOLD)
        x0, y0 = x + ink_cols.min(), y + ink_rows.min()
        w, h = ink_cols.max() - ink_cols.min() + 1, ink_rows.max() - ink_rows.min() + 1
        boxes.append([x0 / CANVAS, y0 / CANVAS, w / CANVAS, h / CANVAS])
        labels.append(str(digits.target[index]))
    proposals = propose(pixels, THRESHOLD, jitter, rng)
    return Canvas(pixels.astype(np.uint8), np.asarray(boxes), labels, proposals)


def canvases(n: int, random_state: int = 0, jitter: int = 2) -> list[Canvas]:
    """``n`` canvases drawn from ``random_state`` (the same seed gives the same images)."""
    rng = np.random.default_rng(random_state)
    digits = load_digits()
    return [_canvas(digits, rng, jitter) for _ in range(n)]


def thumbnail(pixels: np.ndarray) -> np.ndarray:
    """An 8x8 grey thumbnail of a canvas as 64 floats in [0, 1] (an image-level feature)."""
    small = Image.fromarray(pixels).resize((8, 8), Image.BILINEAR)
    return np.asarray(small, dtype=np.float32).ravel() / 255.0


def build_detection_dataset(
    n: int = 600, name: str = DATASET, directory: Path | None = None, random_state: int = 0
):
    """Create (or reuse) the detection demo dataset of ``n`` canvases; returns it.

    Samples carry ``ground_truth`` and ``proposals`` (Detections), a ``thumbnail`` vector and
    their image metadata (width, height), which box conversions read.
    """
    import fiftyone as fo

    from alflow.services import fiftyone_database

    fiftyone_database.connect()
    if fo.dataset_exists(name):
        dataset = fo.load_dataset(name)
        if len(dataset) == n and dataset.info.get("random_state") == random_state:
            return dataset
        dataset.delete()
    directory = directory or state_dir() / "data" / f"digit-boxes-{random_state}"
    directory.mkdir(parents=True, exist_ok=True)
    samples = []
    for i, canvas in enumerate(canvases(n, random_state)):
        path = directory / f"canvas-{i:04d}.png"
        Image.fromarray(canvas.pixels, mode="L").save(path)
        samples.append(
            fo.Sample(
                filepath=str(path),
                metadata=fo.ImageMetadata(width=CANVAS, height=CANVAS, num_channels=1),
                ground_truth=_detections(canvas.boxes, canvas.labels),
                proposals=_detections(canvas.proposals, ["object"] * len(canvas.proposals)),
                thumbnail=thumbnail(canvas.pixels),
            )
        )
    dataset = fo.Dataset(name)
    dataset.add_samples(samples)
    dataset.info["random_state"] = random_state
    dataset.save()
    return dataset


def _detections(boxes: np.ndarray, labels: list[str]):
    import fiftyone as fo

    return fo.Detections(
        detections=[
            fo.Detection(label=label, bounding_box=[float(v) for v in box])
            for box, label in zip(boxes, labels, strict=True)
        ]
    )


def seed_initial_boxes(dataset, n: int, random_state: int = 0) -> list[str]:
    """Copy the ground truth of ``n`` canvases drawn with ``random_state`` into
    ``initial_boxes``, the labels a loop starts from (other canvases' field is cleared)."""
    ids = dataset.values("id")
    chosen = sorted(np.random.default_rng(random_state).choice(len(ids), n, replace=False))
    picked = [ids[i] for i in chosen]
    if INITIAL in dataset.get_field_schema():
        dataset.delete_sample_field(INITIAL)
    view = dataset.select(picked, ordered=True)
    view.set_values(INITIAL, view.values(GROUND_TRUTH))
    return picked
