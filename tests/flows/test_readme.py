"""The code in the README runs as written, and the settings blocks of the docs pages are the
models' defaults."""

import json
import re
from pathlib import Path

import fiftyone.core.models as fom
import numpy as np
import pytest
from PIL import Image

from alflow.config.loop import parse_loop_config

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def blocks(language: str, page: Path = README) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", page.read_text(), flags=re.S)


def test_readme_loop_configuration_is_valid():
    (config,) = [b for b in blocks("json") if '"name"' in b]
    parsed = parse_loop_config(json.loads(config))
    assert parsed.backend.kind == "cvat" and parsed.initial_labels.kind == "tags"


@pytest.mark.usefixtures("prefect_server")
def test_readme_python_snippet_runs(digits, capsys):
    (snippet,) = [b for b in blocks("python") if "create_loop_flow(config)" in b]
    exec(compile(snippet, "README.md", "exec"), {})
    round_number, labelled, accuracy = capsys.readouterr().out.split()[-3:]
    assert (round_number, labelled) == ("1", "30") and 0 < float(accuracy) <= 1


class GreyThumbnail(fom.Model, fom.EmbeddingsMixin):
    """A stand-in for a zoo model (no torch, no download) through FiftyOne's own ``Model``
    interface: an image's 8x8 grey thumbnail is its embedding."""

    media_type = "image"
    ragged_batches = False
    transforms = None
    preprocess = False
    has_embeddings = True

    def predict(self, arg):
        raise NotImplementedError("an embedding model only")

    def embed(self, arg):
        thumbnail = Image.fromarray(np.asarray(arg)).convert("L").resize((8, 8))
        return np.asarray(thumbnail, dtype=np.float32).ravel() / 255.0


def test_readme_embeddings_snippet_runs(digits, monkeypatch):
    import fiftyone.zoo as foz

    (snippet,) = [b for b in blocks("python") if "compute_embeddings" in b]
    asked = []
    monkeypatch.setattr(
        foz, "load_zoo_model", lambda name, **_: asked.append(name) or GreyThumbnail()
    )
    try:
        exec(compile(snippet, "README.md", "exec"), {})
        (field,) = re.findall(r'embeddings_field="(\w+)"', snippet)
        vectors = digits.values(field)
        assert asked == ["clip-vit-base32-torch"]
        assert len(vectors) == len(digits) and {np.shape(v) for v in vectors} == {(64,)}
        (config,) = [b for b in blocks("json") if '"name"' in b]
        assert field in json.loads(config)["features"]["fields"]  # the loop the README creates
    finally:
        if digits.has_sample_field("clip_embedding"):
            digits.delete_sample_field("clip_embedding")


def test_readme_names_the_two_commands_and_ci_runs_the_test_one():
    text = README.read_text()
    assert "make demo" in text and "make test" in text and "make test-fast" in text
    ci = (README.parent / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, flags=re.M)


def test_the_cvat_page_settings_are_the_backend_defaults():
    """The CVAT page's settings block lists every setting with its default (url is an example)."""
    from alflow.config.backends import CvatBackendConfig

    page = ROOT / "docs" / "backends" / "cvat.md"
    (block,) = [json.loads(b) for b in blocks("json", page) if b.startswith('{\n  "kind": "cvat"')]
    defaults = CvatBackendConfig().model_dump(mode="json")
    assert block.pop("url").startswith("https://") and defaults.pop("url") is None
    assert block == defaults


def test_the_app_review_page_settings_are_the_defaults():
    from alflow.config.backends import AppBackendConfig

    page = (ROOT / "docs" / "backends" / "app-review.md").read_text()
    (line,) = re.findall(r"`(\{\"kind\": \"app\".*?\})`", page)
    assert json.loads(line) == AppBackendConfig().model_dump()


def test_the_scaling_page_settings_are_the_defaults():
    from alflow.config.loop import ScoringConfig

    page = ROOT / "docs" / "scaling.md"
    (block,) = [json.loads(b) for b in blocks("json", page) if b.startswith('{\n  "chunk_size"')]
    assert block == ScoringConfig().model_dump(mode="json")
