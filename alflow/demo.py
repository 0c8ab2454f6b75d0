"""Real demo data: scikit-learn's bundled digits (1797 8x8 images) as PNG files in FiftyOne.

Nothing is downloaded: the digits ship inside scikit-learn. Each image is written once as a
32x32 grayscale PNG (upscaled so people can see it in the App and in CVAT); the dataset gets
``filepath``, a ``ground_truth`` Classification and a ``pixels`` vector field (the 64 raw pixel
intensities, 0-16). Building it again reuses what exists, so the call is idempotent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

from alflow.settings import state_dir

DATASET = "alflow-digits"
FEATURE_FIELD = "pixels"
GROUND_TRUTH = "ground_truth"
SEED_FIELD = "seed_labels"


def write_pngs(images: np.ndarray, directory: Path) -> list[Path]:
    """Write each 8x8 image (values 0-16) as a 32x32 PNG; existing files are kept."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(images):
        path = directory / f"digit-{i:04d}.png"
        if not path.exists():
            pixels = (np.clip(image, 0, 16) * (255 / 16)).astype(np.uint8)
            Image.fromarray(pixels, mode="L").resize((32, 32), Image.NEAREST).save(path)
        paths.append(path)
    return paths


def build_digits(name: str = DATASET, directory: Path | None = None):
    """Create (or reuse) the digits dataset; returns the FiftyOne dataset."""
    import fiftyone as fo

    digits = load_digits()
    if fo.dataset_exists(name):
        dataset = fo.load_dataset(name)
        if len(dataset) == len(digits.images):
            return dataset
        dataset.delete()
    paths = write_pngs(digits.images, directory or state_dir() / "data" / "digits")
    samples = [
        fo.Sample(
            filepath=str(path),
            ground_truth=fo.Classification(label=str(target)),
            pixels=np.asarray(vector, dtype=np.float32),
        )
        for path, target, vector in zip(paths, digits.target, digits.data, strict=True)
    ]
    dataset = fo.Dataset(name)
    dataset.add_samples(samples, progress=False)
    dataset.persistent = True
    return dataset


def seed_one_per_class(dataset, field: str = SEED_FIELD, random_state: int = 0) -> list[str]:
    """Give one randomly drawn sample of each class an initial label in ``field``.

    This plays the user who labels a handful of examples before starting a loop. It reads the
    ground truth, which is fine here: it is the demo's set-up, not the loop.
    """
    import fiftyone as fo

    ids = np.asarray(dataset.values("id"))
    truth = np.asarray(dataset.values(f"{GROUND_TRUTH}.label"))
    rng = np.random.default_rng(random_state)
    chosen = {str(rng.choice(ids[truth == c])): c for c in sorted(set(truth))}
    if field in dataset.get_field_schema():
        dataset.delete_sample_field(field)
    dataset.set_values(
        field, {i: fo.Classification(label=c) for i, c in chosen.items()}, key_field="id"
    )
    return sorted(chosen)
