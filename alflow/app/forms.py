"""The create-learner form: ``LoopConfig`` rendered as FiftyOne operator properties.

Every property comes from a :class:`~alflow.app.fields.Spec` of the configuration models, so the
form offers exactly the options the code reads; only the choices that depend on the dataset
(its feature fields, Classification fields and tags) and a few form defaults are added here.
The form is dynamic: choosing another estimator, label source, strategy or backend re-renders
the part below it with that choice's fields.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import BaseModel

from alflow.app.fields import NONE, Spec, branch, default_kind, kind_of, model_input, specs
from alflow.config import naming
from alflow.config.loop import LoopConfig
from alflow.errors import ConfigError
from alflow.strategies import StrategyConfig, strategy_options

HIDDEN = ("schema_version", "dataset")  # fixed by the form: the version, the App's dataset
FORM_ONLY = ("delegate",)  # operator settings that are not part of the loop configuration
FORM_DEFAULTS = {"backend": "app"}  # the App's own review is the App's default backend
LABELS = {
    "initial_labels": "Initial labels",
    "ground_truth_field": "Ground-truth field (evaluation only, never learned from)",
    "eval_fraction": "Held-out share for evaluation",
    "eval_tag": "Held-out tag (a predefined test split)",
    "batch_size": "Default batch size",
    "stop": "Stop rules",
    "random_state": "Random state",
    "features": "Features",
    "estimator": "Estimator",
    "base_estimator": "Base estimator",
    "strategy": "Query strategy",
    "backend": "Annotation backend",
    "scoring": "Advanced: scoring (Dask cluster, chunk size)",
    "scorer": "Scorer (alflow's learners, or your own model's predictions)",
}
ADVANCED = ("scoring",)  # engineering settings, shown last under "Advanced"
GROUND_TRUTH_NAMES = ("ground_truth", "gt", "groundtruth", "truth")  # preselected when present


@dataclass(frozen=True)
class DatasetChoices:
    """What the dataset offers the form: candidate fields and tags."""

    dataset: str
    feature_fields: list[str]
    classification_fields: list[str]
    tags: list[str]
    loops: list[str] = field(default_factory=list)
    detection_fields: list[str] = field(default_factory=list)
    task: str = "classification"  # the form's task so far: which label fields it offers

    @property
    def label_fields(self) -> list[str]:
        """The fields that can hold the loop's labels: Detections for a detection loop."""
        return self.detection_fields if self.task == "detection" else self.classification_fields

    seed: str | None = None  # a Classification field of two classes or more, for the seed

    def default_kind(self, path: str) -> str | None:
        """The kind preselected for a group that depends on the dataset (its label source)."""
        if path != "initial_labels":
            return FORM_DEFAULTS.get(path)
        return "field" if self.label_fields else "tags" if self.tags else NONE

    def ground_truth(self) -> str | None:
        """A label field whose name says it is ground truth, preselected; else none."""
        named = [f for f in self.label_fields if f.lower() in GROUND_TRUTH_NAMES]
        return named[0] if named else None

    def seed_field(self) -> str | None:
        """The label field preselected for the initial labels: not the ground truth."""
        if self.seed and self.task != "detection":
            return self.seed
        others = [f for f in self.label_fields if f != self.ground_truth()]
        return (others or self.label_fields or [None])[0]

    def form_defaults(self, answers: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults that depend on the dataset and the answers so far, by property path.

        Without a ground-truth field a held-out split has nothing to be scored against, so the
        held-out share starts at 0 then: the untouched form is valid on any dataset.
        """
        truth = answers.get("ground_truth_field", self.ground_truth())
        return {
            "ground_truth_field": self.ground_truth(),
            "initial_labels.field": self.seed_field(),
            "eval_fraction": LoopConfig.model_fields["eval_fraction"].default if truth else 0.0,
        }

    def for_path(self, path: str) -> list[str] | None:
        return {
            "features.fields": self.feature_fields,
            "initial_labels.field": self.label_fields,
            "initial_labels.classes": self.tags,
            "ground_truth_field": self.label_fields,
            "eval_tag": self.tags,
            "detection.proposals.field": self.detection_fields,
            "scorer.field": self.label_fields,
        }.get(path)


def suggest_name(dataset: str, taken: list[str]) -> str:
    """A valid loop name derived from the dataset's name, not yet taken."""
    base = re.sub(r"[^a-z0-9]+", "-", dataset.lower()).strip("-") or "loop"
    base = (base if base[0].isalpha() else f"al-{base}")[:34].strip("-")
    for n in range(1, 1000):
        candidate = base if n == 1 else f"{base}-{n}"
        if candidate not in taken:
            return candidate
    raise ConfigError(f"no free loop name for dataset {dataset!r}: name the loop yourself")


def visible_specs(model: type[BaseModel], answers: Mapping[str, Any]) -> list[Spec]:
    """The fields the form shows for ``model`` given the answers so far."""
    if model is StrategyConfig:
        name = answers.get("name") or StrategyConfig().name
        return specs(model, only=("name", *strategy_options(name)))
    if model is LoopConfig:
        hidden = HIDDEN if answers.get("task") == "detection" else (*HIDDEN, "detection")
        shown = [s for s in specs(model) if s.name not in hidden]
        return sorted(shown, key=lambda s: s.name in ADVANCED)
    return specs(model)


def _types():
    from fiftyone.operators import types

    return types


def _choices_view(values: list[Any], labels: Mapping[Any, str] | None = None):
    types = _types()
    view = types.Dropdown() if len(values) > 4 else types.RadioGroup()
    for value in values:
        view.add_choice(value, label=(labels or {}).get(value, str(value)))
    return view


def _label(spec: Spec) -> str:
    return LABELS.get(spec.name, spec.name.replace("_", " "))


def render_model(
    obj,
    model: type[BaseModel],
    answers: Mapping[str, Any],
    choices: DatasetChoices,
    path: str = "",
    skip: tuple[str, ...] = (),
    defaults: Mapping[str, Any] | None = None,
) -> None:
    """Add one property per visible field of ``model`` to the FiftyOne ``obj``.

    ``defaults`` overrides the models' defaults by property path (see
    :meth:`DatasetChoices.form_defaults`).
    """
    for spec in visible_specs(model, answers):
        if spec.name in skip:
            continue
        where = f"{path}{spec.name}"
        if defaults and where in defaults:
            spec = replace(spec, default=defaults[where])
        render_field(obj, spec, answers.get(spec.name), choices, where, defaults)


def render_field(
    obj,
    spec: Spec,
    answer: Any,
    choices: DatasetChoices,
    path: str,
    defaults: Mapping[str, Any] | None = None,
) -> None:
    """Add the property for one field, with its default, bounds and description."""
    types = _types()
    common = {"label": _label(spec), "description": spec.description}
    required = not spec.optional and spec.default is None
    options = choices.for_path(path)
    if spec.kind in ("model", "choice"):
        _render_group(obj, spec, answer or {}, choices, path, common, defaults)
    elif options is not None and spec.kind == "list":
        view = types.AutocompleteView(allow_user_input=False, allow_duplicates=False)
        for value in options:
            view.add_choice(value, label=value)
        obj.list(spec.name, types.String(), required=required, view=view, **common)
    elif spec.kind == "list":  # free values, typed one by one (a model's class names)
        view = types.AutocompleteView(allow_user_input=True, allow_duplicates=False)
        obj.list(spec.name, types.String(), required=required, view=view, **common)
    elif options is not None:
        values = options if not spec.optional else ["", *options]
        labels = {"": "(none)"}
        obj.enum(
            spec.name,
            values,
            # a required choice starts empty (the App would flag a default outside the choices)
            default=spec.default or ("" if spec.optional else None),
            required=not spec.optional,
            view=_choices_view(values, labels),
            **common,
        )
    elif spec.kind == "enum":
        values = list(spec.values)
        obj.enum(spec.name, values, default=spec.default, view=_choices_view(values), **common)
    elif spec.kind == "bool":
        obj.bool(spec.name, default=bool(spec.default), **common)
    elif spec.kind in ("int", "float"):
        method = obj.int if spec.kind == "int" else obj.float
        method(
            spec.name,
            min=spec.minimum,
            max=spec.maximum,
            default=spec.default,
            required=required,
            **common,
        )
    elif spec.kind == "text":
        allowed = ", ".join(map(str, spec.values))
        hint = f" ({allowed}, a number{', or empty for none' if spec.optional else ''})"
        common["description"] = (spec.description or "") + hint
        obj.str(spec.name, default="" if spec.default is None else str(spec.default), **common)
    else:
        obj.str(
            spec.name, default=spec.default, required=required, allow_empty=spec.optional, **common
        )


def _render_group(obj, spec: Spec, answer, choices, path: str, common, defaults=None) -> None:
    """A nested form; for a union, a kind picker first and the chosen kind's fields below."""
    types = _types()
    sub = types.Object()
    if spec.kind == "model":
        render_model(sub, spec.models[0], answer, choices, f"{path}.", defaults=defaults)
        obj.define_property(spec.name, sub, **common)
        return
    kinds = [kind_of(m) for m in spec.models] + ([NONE] if spec.optional else [])
    default = choices.default_kind(path) or default_kind(spec)
    chosen = answer.get("kind") or default
    sub.enum("kind", kinds, default=default, required=True, view=_choices_view(kinds), label="kind")
    model = branch(spec, chosen)
    if model is not None:
        render_model(sub, model, answer, choices, f"{path}.", skip=("kind",), defaults=defaults)
    obj.define_property(spec.name, sub, **common)


def config_from_answers(answers: Mapping[str, Any], dataset: str) -> LoopConfig:
    """The loop configuration a filled-in form describes (raises ConfigError if invalid)."""
    from alflow.config.loop import parse_loop_config

    return parse_loop_config(_config_input(answers, dataset))


def _config_input(answers: Mapping[str, Any], dataset: str) -> dict[str, Any]:
    """The form's answers as ``LoopConfig`` input (raises ConfigError for unknown fields)."""
    unknown = sorted(set(answers) - {s.name for s in specs(LoopConfig)} - set(FORM_ONLY))
    if unknown:
        raise ConfigError(f"the form sent fields the loop configuration does not have: {unknown}")
    answers = {k: v for k, v in answers.items() if k not in FORM_ONLY}
    if answers.get("task") != "detection":  # the App keeps a hidden group's earlier answers
        answers.pop("detection", None)
    data = model_input(LoopConfig, {**answers, **_visible_strategy(answers)})
    data.setdefault("backend", {"kind": FORM_DEFAULTS["backend"]})
    if "eval_fraction" not in data and not data.get("ground_truth_field"):
        data["eval_fraction"] = 0.0  # nothing to score a held-out split against
    return {**data, "dataset": dataset}


def config_problems(answers: Mapping[str, Any], dataset: str) -> list[tuple[str, str, str]]:
    """Every problem of a filled-in form as ``(top-level field, location, message)``.

    The top-level field is the property the form shows the problem beside: the error's own
    location, or for a rule across fields (a model validator) the first field its message names.
    """
    from pydantic import ValidationError

    try:
        LoopConfig.model_validate(_config_input(answers, dataset))
    except ConfigError as exc:
        return [(_named_field(str(exc)), "", str(exc))]
    except ValidationError as exc:
        return [_located(err) for err in exc.errors()]
    return []


def _located(err: Mapping[str, Any]) -> tuple[str, str, str]:
    loc = ".".join(str(p) for p in err["loc"])
    message = str(err["msg"]).removeprefix("Value error, ")
    top = str(err["loc"][0]) if err["loc"] else _named_field(message)
    return top, loc, message


def _named_field(message: str) -> str:
    """The form field a message names first (``loop`` when it names none)."""
    found = [
        (hit.start(), s.name)
        for s in visible_specs(LoopConfig, {})
        for words in {s.name, s.name.replace("_", " ")}
        for hit in [re.search(rf"\b{words}\b", message)]
        if hit
    ]
    return min(found)[1] if found else "loop"


def _visible_strategy(answers: Mapping[str, Any]) -> dict[str, Any]:
    """Only the strategy options the form shows for the chosen strategy.

    The App keeps a group's earlier answers when its choice changes, so a knob set for
    ``diverse_margin`` would otherwise reach a ``margin`` loop's configuration.
    """
    if not isinstance(answers.get("strategy"), Mapping):
        return {}
    chosen = answers["strategy"]
    shown = {s.name for s in visible_specs(StrategyConfig, chosen)}
    return {"strategy": {k: v for k, v in chosen.items() if k in shown}}


def naming_notice(loop: str) -> str:
    """What the loop will write, by alflow's naming rule, for the form to show."""
    return (
        f"Predictions go to `{naming.prediction_field(loop)}`, learned labels to "
        f"`{naming.label_field(loop)}`, the review to `{naming.review_field(loop)}`; a "
        f"round's batch has its number in `{naming.round_field(loop)}` and is saved as the "
        f"view `{naming.round_name(loop, 1)}`, ..."
    )


def name_problem(name: str | None) -> str | None:
    """Why ``name`` cannot name a loop (alflow's naming rule), or None."""
    try:
        naming.validate_loop_name(name)
    except ConfigError as exc:
        return str(exc)
    return None


def render_loop_form(obj, answers: Mapping[str, Any], choices: DatasetChoices) -> None:
    """The loop configuration's properties on ``obj``, as :func:`render_model` renders them
    (label fields of the type the chosen task needs)."""
    chosen = replace(choices, task=answers.get("task") or "classification")
    render_model(obj, LoopConfig, answers, chosen, defaults=chosen.form_defaults(answers))


__all__ = [
    "DatasetChoices",
    "config_from_answers",
    "config_problems",
    "name_problem",
    "naming_notice",
    "render_loop_form",
    "render_model",
    "suggest_name",
]
