"""The code in the README runs as written."""

import re
from pathlib import Path

import pytest

from alflow.config.loop import parse_loop_config

README = Path(__file__).resolve().parents[2] / "README.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_loop_configuration_is_valid():
    import json

    (config,) = [b for b in blocks("json") if '"name"' in b]
    parsed = parse_loop_config(json.loads(config))
    assert parsed.backend.kind == "cvat" and parsed.initial_labels.kind == "tags"


@pytest.mark.usefixtures("prefect_server")
def test_readme_python_snippet_runs(digits, capsys):
    (snippet,) = [b for b in blocks("python") if "create_loop_flow(config)" in b]
    exec(compile(snippet, "README.md", "exec"), {})
    round_number, labelled, accuracy = capsys.readouterr().out.split()[-3:]
    assert (round_number, labelled) == ("1", "30") and 0 < float(accuracy) <= 1


def test_readme_names_the_two_commands_and_ci_runs_the_test_one():
    text = README.read_text()
    assert "make demo" in text and "make test" in text
    ci = (README.parent / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, flags=re.M)


def test_readme_cvat_settings_are_the_backend_defaults():
    """The README's CVAT block lists every setting with its default (url is an example)."""
    import json

    from alflow.config.loop import CvatBackendConfig

    (block,) = [
        json.loads(b) for b in blocks("json") if b.lstrip().startswith('{\n  "kind": "cvat"')
    ]
    defaults = CvatBackendConfig().model_dump(mode="json")
    assert block.pop("url").startswith("https://") and defaults.pop("url") is None
    assert block == defaults


def test_readme_app_backend_settings_are_the_defaults():
    import json

    from alflow.config.loop import AppBackendConfig

    (line,) = [m for m in re.findall(r"`(\{\"kind\": \"app\".*?\})`", README.read_text())]
    assert json.loads(line) == AppBackendConfig().model_dump()


def test_readme_scoring_settings_are_the_defaults():
    import json

    from alflow.config.loop import ScoringConfig

    (block,) = [json.loads(b) for b in blocks("json") if b.lstrip().startswith('{\n  "chunk_size"')]
    assert block == ScoringConfig().model_dump(mode="json")
