"""The configuration reference, docs/configuration.md, generated from the configuration models.

    .venv/bin/python -m alflow.config.reference > docs/configuration.md      (or: make docs)

:func:`reference` walks :class:`~alflow.config.loop.LoopConfig` and every model nested in it
(discriminated unions become one section per ``kind``), then
:class:`~alflow.config.loop.StepOptions`, and renders each field from pydantic's ``model_fields``:
its type (``Literal`` choices spelled out), its default, its constraints and its description.
The strategy choices get a table of their own from :data:`STRATEGY_SUMMARIES`. Pure: it reads
the models and returns text; ``tests/unit/test_config_reference.py`` checks that the committed
page is what it returns and that it names every field and choice.
"""

from __future__ import annotations

import json
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from alflow.config.loop import LoopConfig, StepOptions
from alflow.config.strategy import StrategyConfig, strategy_options
from alflow.config.strategy_names import (
    COLD_START_STRATEGIES,
    COMMITTEE_STRATEGIES,
    DEFAULT_STRATEGY,
    STRATEGY_SUMMARIES,
    StrategyName,
)

COMMAND = "python -m alflow.config.reference > docs/configuration.md"

INTRO = f"""\
# Configuration reference

<!-- generated from the configuration models by `{COMMAND}` (`make docs`); do not edit -->

A loop is defined by one JSON object, a [`LoopConfig`](#loopconfig), given to
`alflow loop create FILE`, to `create_loop_flow(config)`, or filled in as the form of the
*create learner* operator in the FiftyOne App and of the `alflow-create-loop/create-loop`
deployment in the Prefect UI. It is stored with the loop (versioned by `schema_version`).
Each step of a loop takes its own [`StepOptions`](#stepoptions), never stored.

Unknown fields are refused, and so are combinations that cannot work, each with a message that
says what to change (for example `bootstrap: false` with `max_samples`, or kNN as AdaBoost's
weak learner). Fields marked *required* have no default; `null` is JSON's `None`. Sections
whose `kind` is shown are one choice of a discriminated union: the object's `kind` picks it.
"""


def reference() -> str:
    """docs/configuration.md: every configuration model, field and choice, as Markdown."""
    groups = sections()
    parts = [INTRO, contents(groups)]
    for heading, models in groups:
        parts.append(f"## {heading}\n")
        for model in models:
            parts.append(section(model))
            if model is StrategyConfig:
                parts.append(strategy_table())
    return "\n".join(parts).rstrip() + "\n"


def sections() -> list[tuple[str, list[type[BaseModel]]]]:
    """The models in groups: the loop, then each of its fields' models (with every model they
    nest, each once), then the step options."""
    groups = [("The loop", [LoopConfig])]
    seen = {LoopConfig}
    for name, info in LoopConfig.model_fields.items():
        found = [m for m in reachable(info.annotation) if m not in seen]
        seen.update(found)
        if found:
            groups.append((f"`{name}`: {describe(name, info).lower()}", found))
    return [*groups, ("A step's options", [StepOptions])]


def reachable(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation names and every model their fields reach, breadth first."""
    found = models_in(annotation)
    for model in found:
        for info in model.model_fields.values():
            found += [m for m in models_in(info.annotation) if m not in found]
    return found


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation names, in order (through unions and ``Annotated``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in models_in(arg)]


def anchor(model: type[BaseModel]) -> str:
    return model.__name__.lower()


def kind_of(model: type[BaseModel]) -> str | None:
    """The model's discriminator value, if it is one choice of a union."""
    info = model.model_fields.get("kind")
    return info.default if info is not None and isinstance(info.default, str) else None


def title(model: type[BaseModel]) -> str:
    kind = kind_of(model)
    return f"`{model.__name__}` (kind `{kind}`)" if kind else f"`{model.__name__}`"


def contents(groups: list[tuple[str, list[type[BaseModel]]]]) -> str:
    lines = ["## Contents", ""]
    for heading, models in groups:
        lines.append(f"- {heading}")
        lines += [f"  - [{title(m)}](#{anchor(m)}): {summary(m)}" for m in models]
    return "\n".join(lines) + "\n"


def summary(model: type[BaseModel]) -> str:
    """The first sentence of the model's docstring, on one line."""
    return " ".join(docstring(model).split("\n\n")[0].split())


def docstring(model: type[BaseModel]) -> str:
    lines = (model.__doc__ or "").strip().splitlines()
    text = "\n".join(line.strip() for line in lines)
    return text.replace("``", "`").replace(":class:", "").replace(":mod:", "")


def section(model: type[BaseModel]) -> str:
    lines = [f'<a id="{anchor(model)}"></a>', "", f"### {title(model)}", ""]
    lines += [" ".join(p.split()) + "\n" for p in docstring(model).split("\n\n")]
    lines.append(f"Defined in `{model.__module__}`.{builds(model)}")
    lines += ["", "| field | type | default | description |", "| --- | --- | --- | --- |"]
    for name, info in model.model_fields.items():
        cells = (
            f"`{name}`",
            type_text(info.annotation, info),
            default_text(info),
            describe(name, info),
        )
        lines.append("| " + " | ".join(cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def builds(model: type[BaseModel]) -> str:
    """What an estimator configuration builds, and the parameters alflow always sets."""
    target = getattr(model, "sklearn_class", None)
    if target is None:
        return ""
    text = f" Builds `{target}`"
    fixed = getattr(model, "fixed_params", {})
    if fixed:
        text += " with " + ", ".join(f"`{k}={v!r}`" for k, v in fixed.items())
    if getattr(model, "seeded", False):
        text += ", seeded with the loop's `random_state`"
    return text + "; every field but `kind` is passed as the parameter of that name."


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def describe(name: str, info: FieldInfo) -> str:
    if info.description is None and name == "kind" and get_origin(info.annotation) is Literal:
        return "Picks this choice"
    if info.description is None:
        raise ValueError(f"configuration field {name!r} has no description")
    return info.description.rstrip(".")


def default_text(info: FieldInfo) -> str:
    if info.default_factory is not None:
        return value_text(info.default_factory())
    if info.default is PydanticUndefined:
        return "*required*"
    return value_text(info.default)


def value_text(value: Any) -> str:
    if isinstance(value, BaseModel):
        changed = value.model_dump(mode="json", exclude_defaults=True)
        kind = kind_of(type(value))
        if kind is None and not changed:
            return f"[its defaults](#{anchor(type(value))})"
        shown = ({"kind": kind} if kind else {}) | changed
        return f"[`{json.dumps(shown)}`](#{anchor(type(value))})"
    return f"`{json.dumps(value)}`"


def type_text(annotation: Any, info: FieldInfo | None = None) -> str:
    """A field's type in words: choices, nested models as links, constraints appended."""
    text = _type_words(annotation)
    limits = constraints(info.metadata) if info is not None else ""
    return f"{text} {limits}".strip()


def _type_words(annotation: Any) -> str:
    origin = get_origin(annotation)
    if annotation is type(None):
        return "`null`"
    if origin is Literal:
        return " or ".join(f"`{json.dumps(choice)}`" for choice in get_args(annotation))
    if origin is Annotated:
        inner, *metadata = get_args(annotation)
        extra = [m for item in metadata if isinstance(item, FieldInfo) for m in item.metadata]
        return f"{_type_words(inner)} {constraints(extra)}".strip()
    if origin in (Union, types.UnionType):
        choices = get_args(annotation)
        kinds = [m for m in choices if isinstance(m, type) and issubclass(m, BaseModel)]
        if kinds and all(kind_of(m) for m in kinds) and len(kinds) == len(choices):
            links = ", ".join(f"[`{kind_of(m)}`](#{anchor(m)})" for m in kinds)
            return f"object, by `kind`: {links}"
        return " or ".join(_type_words(arg) for arg in choices)
    if origin is list:
        (item,) = get_args(annotation)
        return f"list of {_type_words(item)}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[`{annotation.__name__}`](#{anchor(annotation)})"
    names = {int: "integer", float: "number", str: "string", bool: "boolean"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def constraints(metadata: list[Any]) -> str:
    """Constraints as a short phrase: ``(≥ 1, ≤ 5000)``, ``(pattern `...`)``."""
    words = []
    for item in metadata:
        for attr, sign in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
            if isinstance(item, getattr(at, attr.capitalize())):
                words.append(f"{sign} {getattr(item, attr)}")
        if isinstance(item, at.MinLen):
            words.append(f"length ≥ {item.min_length}")
        elif isinstance(item, at.MaxLen):
            words.append(f"length ≤ {item.max_length}")
        pattern = getattr(item, "pattern", None)
        if isinstance(pattern, str):
            words.append(f"pattern `{pattern}`")
    return f"({', '.join(words)})" if words else ""


def strategy_table() -> str:
    """Every choice of ``strategy.name``: what it does, whether it needs labels, its options."""
    lines = [
        "#### Strategy choices",
        "",
        "| `name` | what it picks | options it uses | starts without labels |",
        "| --- | --- | --- | --- |",
    ]
    for name in get_args(StrategyName):
        label = f"`{name}` (default)" if name == DEFAULT_STRATEGY else f"`{name}`"
        options = ", ".join(f"`{o}`" for o in strategy_options(name)) or "none"
        if name in COMMITTEE_STRATEGIES:
            options += " (a committee of learners)"
        cold = "yes" if name in COLD_START_STRATEGIES else "no"
        lines.append(f"| {label} | {cell(STRATEGY_SUMMARIES[name])} | {options} | {cold} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    print(reference(), end="")


if __name__ == "__main__":
    main()
