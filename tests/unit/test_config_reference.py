"""docs/configuration.md is the generated reference, and it names every field and every choice.

The second check walks the configuration modules on its own (every pydantic model they define),
so a model the generator never reaches fails it too.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from alflow.config import (
    backends,
    detection,
    loop,
    reference,
    semi_supervised,
    strategy,
    supervised,
)

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "configuration.md"
MODULES = (loop, backends, detection, supervised, semi_supervised, strategy)


def configuration_models() -> list[type[BaseModel]]:
    """Every pydantic model with fields that the configuration modules define."""
    return [
        obj
        for module in MODULES
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, BaseModel)
        and obj.__module__ == module.__name__
        and obj.model_fields
    ]


def literal_choices(annotation: Any) -> set[Any]:
    if get_origin(annotation) is Literal:
        return set(get_args(annotation))
    return {choice for arg in get_args(annotation) for choice in literal_choices(arg)}


def test_the_committed_page_is_what_the_generator_writes():
    assert PAGE.read_text() == reference.reference(), (
        "docs/configuration.md is stale: run `make docs` "
        "(python -m alflow.config.reference > docs/configuration.md)"
    )


def test_the_walk_finds_the_models_it_should():
    names = {model.__name__ for model in configuration_models()}
    assert {"LoopConfig", "StepOptions", "DecisionTreeConfig", "CvatBackendConfig"} <= names
    assert {"GradientBoostingConfig", "AdaBoostConfig", "BaggingConfig", "KNNConfig"} <= names
    assert {"SVCConfig", "LabelSpreadingConfig", "SelfTrainingConfig", "StrategyConfig"} <= names


@pytest.mark.parametrize("model", configuration_models(), ids=lambda m: m.__name__)
def test_every_model_field_and_choice_is_documented(model):
    text = PAGE.read_text()
    (section,) = re.findall(
        rf'<a id="{model.__name__.lower()}"></a>\n\n### `{model.__name__}`.*?(?=\n<a id=|\Z)',
        text,
        flags=re.S,
    )
    fields_table = section.split("\n####", 1)[0]  # StrategyConfig's choices table follows
    rows = {m[1]: m[0] for m in re.finditer(r"^\| `(\w+)` \|.*$", fields_table, re.M)}
    for name, info in model.model_fields.items():
        assert name in rows, f"{model.__name__}.{name} is missing from docs/configuration.md"
        description = rows[name].split(" | ")[-1]
        assert len(description) > len(" |"), f"{model.__name__}.{name} has no description"
        for choice in literal_choices(info.annotation):
            shown = f"`{choice}`" if isinstance(choice, int) else f'`"{choice}"`'
            assert shown in rows[name], f"{model.__name__}.{name}: choice {choice!r} not shown"


def test_every_strategy_has_a_row_in_the_choices_table():
    text = PAGE.read_text()
    table = text.split("#### Strategy choices", 1)[1].split("\n\n<a id=", 1)[0]
    for name in get_args(strategy.StrategyName):
        assert re.search(rf"^\| `{name}`( \(default\))? \| \w", table, flags=re.M), name


def test_a_field_without_a_description_stops_the_generator(monkeypatch):
    info = loop.StopRules.model_fields["plateau_delta"]
    monkeypatch.setattr(info, "description", None)
    with pytest.raises(ValueError, match="'plateau_delta' has no description"):
        reference.reference()


def test_loop_create_help_points_at_the_configuration_page():
    from alflow.cli.loop_commands import loop_app

    result = CliRunner().invoke(loop_app, ["create", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "docs/configuration.md" in result.output
