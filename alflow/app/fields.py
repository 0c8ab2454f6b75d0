"""What a form shows for each field of a pydantic model, and how its answers become values.

The App's forms are derived from the configuration models (``LoopConfig`` and its parts), never
written by hand, so a form cannot offer an option the code ignores or misspell one (a
hand-written ``criteria`` or ``svm`` would be dropped silently). This module is pure: it reads type
annotations and turns form answers back into model input; :mod:`alflow.app.forms` renders the
specs as FiftyOne operator properties.
"""

from __future__ import annotations

import types as pytypes
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

NONE = "none"  # the choice meaning "no value" for an optional group (e.g. no initial labels)


@dataclass(frozen=True)
class Spec:
    """How one model field is asked for.

    ``kind`` is one of ``bool``, ``int``, ``float``, ``str``, ``enum``, ``list``, ``model``
    (a nested form), ``choice`` (a discriminated union: pick a kind, then its form) or
    ``text`` (a union of a few literals and numbers, typed as text and parsed back).
    """

    name: str
    kind: str
    optional: bool
    default: Any
    description: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    values: tuple[Any, ...] = ()
    models: tuple[type[BaseModel], ...] = ()


def _strip(annotation: Any) -> tuple[Any, list[Any]]:
    """The annotation without ``Annotated`` wrappers, and the metadata they carried."""
    metadata: list[Any] = []
    while get_origin(annotation) is Annotated:
        annotation, *extra = get_args(annotation)
        for item in extra:
            metadata.extend(item.metadata if isinstance(item, FieldInfo) else [item])
    return annotation, metadata


def _union_args(annotation: Any) -> tuple[Any, ...]:
    if get_origin(annotation) in (Union, pytypes.UnionType):
        return get_args(annotation)
    return (annotation,)


def _bounds(metadata: list[Any]) -> tuple[float | None, float | None]:
    low = high = None
    for item in metadata:
        if isinstance(item, at.Ge | at.Gt):
            low = item.ge if isinstance(item, at.Ge) else item.gt
        if isinstance(item, at.Le | at.Lt):
            high = item.le if isinstance(item, at.Le) else item.lt
    return low, high


def field_default(info: FieldInfo) -> Any:
    """The field's default value (calling its factory), or None when it is required."""
    if info.default_factory is not None:
        return info.default_factory()
    return None if info.default is PydanticUndefined else info.default


def spec_of(name: str, info: FieldInfo) -> Spec:
    """The form spec of one model field."""
    annotation, metadata = _strip(info.annotation)
    metadata = [*info.metadata, *metadata]
    args: list[Any] = []
    for arg in _union_args(annotation):
        inner, extra = _strip(arg)
        metadata.extend(extra)
        args.extend(_union_args(inner))
    common = {
        "name": name,
        "optional": type(None) in args,
        "default": field_default(info),
        "description": info.description,
    }
    args = [a for a in args if a is not type(None)]
    models = tuple(a for a in args if isinstance(a, type) and issubclass(a, BaseModel))
    if models and len(models) == len(args):
        # an optional model without a kind (detection settings) is a plain group, shown when
        # the form asks for it, not a choice of kinds
        union = len(models) > 1 or (common["optional"] and "kind" in models[0].model_fields)
        kind = "choice" if union else "model"
        return Spec(kind=kind, models=models, **common)
    if len(args) == 1:
        return _single(args[0], metadata, common)
    return Spec(kind="text", values=_literals(args), **common)


def _literals(args: list[Any]) -> tuple[Any, ...]:
    return tuple(v for a in args if get_origin(a) is Literal for v in get_args(a))


def _single(arg: Any, metadata: list[Any], common: dict[str, Any]) -> Spec:
    low, high = _bounds(metadata)
    if arg is bool:
        return Spec(kind="bool", **common)
    if arg in (int, float):
        return Spec(kind=arg.__name__, minimum=low, maximum=high, **common)
    if get_origin(arg) is Literal:
        return Spec(kind="enum", values=get_args(arg), **common)
    if get_origin(arg) is list:
        return Spec(kind="list", **common)
    if arg is str:
        return Spec(kind="str", **common)
    raise TypeError(f"no form widget for field {common['name']!r} of type {arg!r}")


def kind_of(model: type[BaseModel]) -> str:
    """The ``kind`` literal of one branch of a discriminated union; a lone optional model
    without one (the detection settings) is chosen as 'set'."""
    info = model.model_fields.get("kind")
    return "set" if info is None else str(info.default)


def specs(model: type[BaseModel], only: tuple[str, ...] | None = None) -> list[Spec]:
    """Specs of the model's fields, in declaration order (``only`` keeps a subset)."""
    return [
        spec_of(name, info)
        for name, info in model.model_fields.items()
        if only is None or name in only
    ]


def parse_text(value: Any, spec: Spec) -> Any:
    """A text answer of a ``text`` field as the value it names: a literal, a number or None."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.lower() in ("", "none", "null"):
        return None
    if text in spec.values:
        return text
    try:
        number = float(text)
    except ValueError:
        return text  # let the model's validation name the allowed values
    return int(number) if number.is_integer() and "." not in text else number


def default_kind(spec: Spec) -> str:
    """The kind preselected for a ``choice`` field: its default's, else 'none'."""
    return kind_of(type(spec.default)) if isinstance(spec.default, BaseModel) else NONE


def branch(spec: Spec, kind: str | None) -> type[BaseModel] | None:
    """The union member whose ``kind`` is ``kind`` (None for the 'none' choice)."""
    for model in spec.models:
        if kind_of(model) == kind:
            return model
    return None


def model_input(model: type[BaseModel], answers: dict[str, Any] | None) -> dict[str, Any]:
    """Form answers for ``model`` as model input; unanswered fields take the model default."""
    answers = answers or {}
    out: dict[str, Any] = {}
    for spec in specs(model):
        if spec.name not in answers:
            continue
        value = answers[spec.name]
        if spec.kind == "text":
            value = parse_text(value, spec)
        elif spec.kind == "model":
            value = model_input(spec.models[0], value)
            if spec.optional and value and all(v in (None, "") for v in value.values()):
                value = None  # an optional group left blank (no proposals field chosen)
        elif spec.kind == "choice":
            chosen = branch(spec, (value or {}).get("kind") or default_kind(spec))
            value = None if chosen is None else model_input(chosen, value)
        elif value == "" and spec.optional:
            value = None
        out[spec.name] = value
    return out
