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

from alflow.services.environment import state_dir

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

    from alflow.services import fiftyone_database

    fiftyone_database.connect()
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


def simulation_dataset_name(estimator: str, seed: int) -> str:
    return f"alflow-sim-digits-{estimator}-s{seed}"


def build_simulation_dataset(estimator: str, seed: int, directory: Path | None = None):
    """The digits split exactly as :func:`alflow.demo.simulation.simulate` sees it, as a dataset.

    Pool samples come first, in the simulation's pool order, then the test samples, tagged
    ``test``; ``features`` holds the simulation's (possibly standardised) pixels and
    ``seed_labels`` its one-label-per-class start. A loop over it with ``eval_tag='test'`` is
    the simulation run through the real flows.
    """
    import fiftyone as fo
    from sklearn.model_selection import train_test_split

    from alflow.demo.simulation import digits_split, initial_labels

    name = simulation_dataset_name(estimator, seed)
    if fo.dataset_exists(name):
        fo.delete_dataset(name)
    digits = load_digits()
    paths = write_pngs(digits.images, directory or state_dir() / "data" / "digits")
    X_pool, X_test, y_pool, y_test = digits_split(seed, estimator)
    idx_pool, idx_test = train_test_split(
        np.arange(len(digits.target)), test_size=0.3, stratify=digits.target, random_state=seed
    )
    start = set(initial_labels(y_pool, np.random.default_rng(seed)).tolist())
    samples = []
    for part, (idx, X, y) in enumerate(((idx_pool, X_pool, y_pool), (idx_test, X_test, y_test))):
        for row, (i, x, label) in enumerate(zip(idx, X, y, strict=True)):
            sample = fo.Sample(
                filepath=str(paths[i]),
                features=np.asarray(x, dtype=np.float32),
                ground_truth=fo.Classification(label=str(label)),
            )
            if part == 1:
                sample.tags.append("test")
            elif row in start:
                sample[SEED_FIELD] = fo.Classification(label=str(label))
            samples.append(sample)
    dataset = fo.Dataset(name)
    dataset.add_samples(samples, progress=False)
    return dataset
