"""Fixtures for the CVAT backend tests: images, batches and backends against the stand-in
(``cvat_server`` comes from ``tests/cvat_stand_in/fixtures.py``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from alflow.backends.base import Batch, BatchItem
from alflow.backends.cvat import CvatBackend
from alflow.config.backends import CvatBackendConfig
from tests.helpers import CVAT_FAST

from .fakes import Refs, Sleeps


@pytest.fixture
def env(cvat_server) -> dict[str, str]:
    """ALFLOW_CVAT_* variables pointing at the stand-in (passed to the backend, not set)."""
    return {
        "ALFLOW_CVAT_URL": cvat_server.url,
        "ALFLOW_CVAT_USERNAME": cvat_server.username,
        "ALFLOW_CVAT_PASSWORD": cvat_server.password,
    }


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_backend(env, sleeps) -> Callable[..., CvatBackend]:
    """Backend factory: keyword arguments override CvatBackendConfig fields."""

    def make(environ: dict[str, str] | None = None, **fields) -> CvatBackend:
        config = CvatBackendConfig(**{"segment_size": 2, **CVAT_FAST, **fields})
        return CvatBackend(config, environ=env if environ is None else environ, sleep=sleeps)

    return make


@pytest.fixture
def backend(make_backend) -> CvatBackend:
    return make_backend()


@pytest.fixture
def make_batch(tmp_path) -> Callable[..., Batch]:
    """Batch factory: ``files`` are relative image paths written as small PNGs under tmp_path;
    sample ids are ``s0, s1, ...`` in file order."""

    def make(
        files: list[str],
        predicted: list[str | None] | None = None,
        classes: tuple[str, ...] = ("cat", "dog"),
        loop: str = "pets",
        round_number: int = 1,
    ) -> Batch:
        predicted = predicted or ["cat"] * len(files)
        items = []
        for i, (name, guess) in enumerate(zip(files, predicted, strict=True)):
            path = Path(tmp_path) / "images" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (8 + i, 8), (17 * i % 256, 80, 160)).save(path)
            items.append(BatchItem(f"s{i}", str(path), guess, 0.5))
        return Batch(loop, round_number, tuple(items), classes)

    return make


@pytest.fixture
def refs() -> Refs:
    return Refs()
