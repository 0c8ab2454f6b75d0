"""Fixtures for the Label Studio tests: one real server per session, an annotator, batches, loops.

The server (:mod:`.server`) starts once per test session, the first time a test asks for it,
and stops at the session's end; every test that needs it is in ``test_server.py``, so under
``--dist loadfile`` one xdist worker runs them all and pays the start once (about 15 s).
Images live under the session's state directory, which is the server's
``LOCAL_FILES_DOCUMENT_ROOT``: the digits dataset and the batches below are served in place.
"""

from __future__ import annotations

import atexit
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import tasks
from alflow.backends.base import Batch, BatchItem
from alflow.backends.label_studio import ENV_SECRET_BLOCK, ENV_TOKEN, ENV_URL, LabelStudioBackend
from alflow.config.backends import LabelStudioBackendConfig
from alflow.config.loop import LoopConfig
from flows.loop import create_loop_flow
from tests.helpers import loop_config, unique_name

from .annotator import Annotator
from .server import LabelStudioServer

# tiny retry waits, so a test never sleeps for long
FAST = {"backoff_seconds": 0.01, "backoff_max_seconds": 0.05}


def pytest_collection_modifyitems(config, items) -> None:
    """Every test here that uses the server is ``label_studio`` (``-m "not label_studio"``
    leaves them out, and with them the server's start)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents and "label_studio" in item.fixturenames:
            item.add_marker(pytest.mark.label_studio)


@pytest.fixture(scope="session")
def label_studio(state_home: Path) -> Iterator[LabelStudioServer]:
    """The session's Label Studio: ``.url``, ``.pat``, ``.legacy_token``, ``.admin()``."""
    server = LabelStudioServer(home=state_home / "label-studio", media_root=state_home)
    atexit.register(server.stop)  # also if the session is interrupted
    server.start()
    print(f"\nLabel Studio up at {server.url} in {server.started_in:.1f} s")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def annotator(label_studio) -> Annotator:
    """A person who joined through the invite link and works in Label Studio."""
    return Annotator(label_studio.url, label_studio.invite_token())


@pytest.fixture
def second_annotator(label_studio) -> Annotator:
    return Annotator(label_studio.url, label_studio.invite_token())


class Sleeps:
    """A fake clock for retries: records each wait instead of sleeping."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class Refs:
    """A save_ref that keeps every reference it is given (copies, as the ledger would)."""

    def __init__(self) -> None:
        self.saved: list[dict] = []

    def __call__(self, ref: dict) -> None:
        self.saved.append(dict(ref))


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def env(label_studio) -> dict[str, str]:
    """ALFLOW_LABEL_STUDIO_* pointing at the server with the admin's personal access token."""
    return {ENV_URL: label_studio.url, ENV_TOKEN: label_studio.pat}


@pytest.fixture
def make_backend(env, sleeps, state_home) -> Callable[..., LabelStudioBackend]:
    """Backend factory: keyword arguments override LabelStudioBackendConfig fields."""

    def make(environ: dict[str, str] | None = None, **fields: Any) -> LabelStudioBackend:
        config = LabelStudioBackendConfig(**{"local_files_root": str(state_home), **FAST, **fields})
        return LabelStudioBackend(config, environ=env if environ is None else environ, sleep=sleeps)

    return make


@pytest.fixture
def make_batch(state_home) -> Callable[..., Batch]:
    """Batch factory: ``n`` small PNGs under the state directory (served in place), sample ids
    ``s0, s1, ...``, a new loop name unless one is given."""
    folder = state_home / "ls-media" / secrets.token_hex(4)

    def make(
        n: int = 4,
        predicted: list[str | None] | None = None,
        classes: tuple[str, ...] = ("cat", "dog"),
        loop: str | None = None,
        round_number: int = 1,
    ) -> Batch:
        predicted = predicted or ["cat"] * n
        folder.mkdir(parents=True, exist_ok=True)
        items = []
        for i, guess in enumerate(predicted):
            path = folder / f"img {i}.png"  # a space: the local-files URL must quote it
            Image.new("RGB", (8 + i, 8), (17 * i % 256, 80, 160)).save(path)
            items.append(BatchItem(f"s{i}", str(path), guess, 0.5 + i / 100))
        name = loop or unique_name(f"ls-{secrets.token_hex(3)}")
        return Batch(name, round_number, tuple(items), classes)

    return make


@pytest.fixture
def ls_env(label_studio, monkeypatch) -> dict[str, str]:
    """The admin's personal access token in ALFLOW_LABEL_STUDIO_TOKEN, nothing else set."""
    monkeypatch.delenv(ENV_URL, raising=False)
    monkeypatch.delenv(ENV_SECRET_BLOCK, raising=False)
    monkeypatch.setenv(ENV_TOKEN, label_studio.pat)
    return {ENV_TOKEN: label_studio.pat}


@pytest.fixture
def ls_loop(digits, label_studio, ls_env, prefect_server, state_home) -> Callable[..., LoopConfig]:
    """Factory: a loop on the digits data annotated in Label Studio, 8 samples a round, images
    served in place. Keyword arguments override backend fields; ``flow=False`` creates the loop
    through the task bodies instead of ``create_loop_flow`` (faster, same effect)."""

    def make(flow: bool = True, **backend: Any) -> LoopConfig:
        name = unique_name(f"ls-{secrets.token_hex(3)}")
        settings = {"kind": "label_studio", "url": label_studio.url, **FAST}
        settings["local_files_root"] = str(state_home)
        config = loop_config(name, batch_size=8, backend={**settings, **backend})
        if flow:
            create_loop_flow(config)
        else:
            tasks.register_loop.fn(config)
            tasks.fit_initial_learner.fn(config.name)
        return config

    return make
