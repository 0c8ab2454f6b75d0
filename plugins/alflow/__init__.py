"""alflow's FiftyOne App operators: the seed plugin's three, plus the loop's status.

Each operator only translates between the App and :mod:`alflow.app.actions`, which runs alflow's
flows on alflow's ledger; nothing is kept in this module, so an App restart, a second App, the
CLI and the schedule all see and advance the same loops. Bad input shows in the form (an error
that blocks Execute, saying how to fix it) or as the run's one-line error, never a traceback.
"""

from __future__ import annotations

import fiftyone.operators as foo
from fiftyone.operators import types

import alflow  # noqa: F401  (sets alflow's state directory before anything reads it)
from alflow.app import actions
from alflow.app.forms import config_from_answers, naming_notice, render_model, suggest_name
from alflow.config import naming
from alflow.config.loop import LoopConfig, StepOptions
from alflow.errors import AlflowError, ConfigError, LedgerError

WHEN_UNFINISHED = list(StepOptions.model_fields["when_unfinished"].annotation.__args__)


def _problem(inputs, name: str, message: str) -> None:
    """An error in the form that blocks Execute until it is fixed."""
    inputs.view(name, types.Error(label=message), invalid=True, error_message=message)


def _guarded(ctx, work) -> dict:
    """Run ``work``; an alflow error becomes the result's one-line ``error``, not a traceback."""
    try:
        actions.check_environment()
        return work()
    except AlflowError as exc:
        ctx.ops.notify(str(exc), variant="error")
        return {"error": str(exc)}


def _choose_loop(ctx, inputs) -> str | None:
    """The loop picker (several loops may share a dataset); None when the dataset has none."""
    loops = actions.loops_of(ctx.dataset.name)
    if not loops:
        _problem(
            inputs,
            "no_loop",
            f"dataset {ctx.dataset.name!r} has no active-learning loop: run 'Active Learning: "
            "create learner' first",
        )
        return None
    picker = types.Dropdown()
    for loop in loops:
        picker.add_choice(loop, label=loop)
    inputs.enum("loop", loops, default=loops[0], required=True, label="Loop", view=picker)
    return ctx.params.get("loop") or loops[0]


BACKGROUND_ABOVE = 20_000  # samples: larger fits may outlast FiftyOne's operator timeout


def _delegation_input(ctx, inputs) -> None:
    inputs.bool(
        "delegate",
        default=len(ctx.dataset) > BACKGROUND_ABOVE,
        label="Run in the background",
        description="Delegate to FiftyOne's executor ('alflow app' runs one) for long fits",
    )


def _markdown_outputs(ctx, title: str):
    outputs = types.Object()
    results = ctx.results or {}
    if results.get("error"):
        outputs.view("error", types.Error(label=results["error"]))
    else:
        outputs.md("\n\n".join(results.get("lines", [])), name="summary")
    return types.Property(outputs, view=types.View(label=title))


def _lines_of(result: dict) -> list[str]:
    lines = []
    if result.get("ran"):
        lines.append(f"Ran {result['ran']}.")  # where: a deployment run, or why in-process
    if result.get("run_url"):
        lines.append(f"Prefect flow run: [{result['run_url']}]({result['run_url']})")
    return lines


def _config(name: str, label: str, description: str, background: bool = False):
    """An operator's configuration: dynamic forms; ``background`` allows delegated runs."""
    return foo.OperatorConfig(
        name=name,
        label=f"Active Learning: {label}",
        description=description,
        dynamic=True,
        allow_immediate_execution=True,
        allow_delegated_execution=background,
        view_target=False,
    )


class _Background(foo.Operator):
    """An operator whose form offers 'Run in the background' (FiftyOne's delegation)."""

    def resolve_delegation(self, ctx):
        return bool(ctx.params.get("delegate", False))


class CreateLearner(_Background):
    @property
    def config(self):
        return _config(
            "create_learner",
            "create learner",
            "Create an active-learning loop on this dataset and fit it",
            background=True,
        )

    def resolve_input(self, ctx):
        inputs = types.Object()
        choices = actions.dataset_choices(ctx.dataset)
        if not choices.feature_fields:
            _problem(
                inputs,
                "no_features",
                f"dataset {ctx.dataset.name!r} has no numeric feature field: compute "
                "embeddings (dataset.compute_embeddings) or add float fields first",
            )
        if not choices.classification_fields and not choices.tags:
            inputs.view(
                "no_labels",
                types.Warning(
                    label="No Classification field and no sample tags: label a few samples "
                    "(or tag them with class names), or choose initial labels 'none' with a "
                    "cold-start strategy (typiclust, typiclust_margin, random)"
                ),
            )
        answers = dict(ctx.params)
        answers.setdefault("name", suggest_name(ctx.dataset.name, choices.loops))
        render_model(inputs, LoopConfig, answers, choices)
        inputs.properties["name"].default = answers["name"]
        self._check(ctx, inputs, answers, choices)
        _delegation_input(ctx, inputs)
        return types.Property(inputs, view=types.View(label="Active Learning: create learner"))

    def _check(self, ctx, inputs, answers, choices) -> None:
        name = answers.get("name")
        try:
            naming.validate_loop_name(name)
        except ConfigError as exc:
            _problem(inputs, "bad_name", str(exc))
            return
        inputs.view("naming", types.Notice(label=naming_notice(name)))
        if name in actions.loops_of(ctx.dataset.name) or _loop_exists(name):
            _problem(inputs, "name_taken", f"a loop named {name!r} exists: choose another name")
        source = answers.get("initial_labels") or {}
        if source.get("kind", "field") == "field" and source.get("field"):
            found = ctx.dataset.distinct(f"{source['field']}.label")
            if len(found) < 2:
                _problem(
                    inputs,
                    "one_class",
                    f"field {source['field']!r} holds {len(found)} class(es); a learner needs "
                    "two: label samples of another class first",
                )
        if (answers.get("features") or {}).get("fields"):
            try:
                config_from_answers(answers, ctx.dataset.name)
            except AlflowError as exc:
                _problem(inputs, "invalid", str(exc))

    def execute(self, ctx):
        def work():
            config = config_from_answers(dict(ctx.params), ctx.dataset.name)
            ctx.set_progress(progress=0.05, label=f"creating loop {config.name!r}")
            result = actions.create(config)
            ctx.set_progress(progress=1.0, label="round 0 fitted")
            ctx.ops.reload_dataset()
            r0 = result["round_0"]
            lines = [
                f"Loop `{config.name}` created: round 0 learned from {r0['labelled']} labels"
                + (f", held-out accuracy {r0['accuracy']:.3f}" if r0["accuracy"] else ""),
                naming_notice(config.name),
                *_lines_of(result),
            ]
            return {"loop": config.name, "round_0": r0, "lines": lines, "ran": result["ran"]}

        return _guarded(ctx, work)

    def resolve_output(self, ctx):
        return _markdown_outputs(ctx, "Learner created")


def _loop_exists(name: str) -> bool:
    from alflow.loop.workspace import open_workspace

    return open_workspace().ledger.loop_exists(name)


class QueryLearner(foo.Operator):
    @property
    def config(self):
        return _config(
            "query_learner", "query learner", "Query the loop's next batch and show it for review"
        )

    def resolve_input(self, ctx):
        inputs = types.Object()
        loop = _choose_loop(ctx, inputs)
        if loop is None:
            return types.Property(inputs)
        current = actions.in_flight(loop)
        if current is not None:
            inputs.view(
                "in_flight",
                types.Warning(
                    label=f"Round {current['round']} is already {current['state']}: Execute "
                    "shows it; finish it with 'Active Learning: update learner predictions'"
                ),
            )
        inputs.int("batch_size", min=1, label="Batch size", description="Default: the loop's")
        return types.Property(inputs, view=types.View(label="Active Learning: query learner"))

    def execute(self, ctx):
        def work():
            loop = ctx.params.get("loop") or actions.loops_of(ctx.dataset.name)[0]
            result = actions.query(loop, ctx.params.get("batch_size"))
            ctx.ops.reload_dataset()
            ids = result["sample_ids"]
            ctx.ops.set_view(view=ctx.dataset.select(ids, ordered=True))
            number = result["round"]["round"]
            lines = [f"Round {number} of `{loop}`: {len(ids)} samples, in query order."]
            if result["view"]:
                lines.append(
                    f"Saved as the view `{result['view']}`. Tag wrong predictions with the "
                    f"right class name, or edit `{naming.review_field(loop)}` in the annotation "
                    "panel; then run 'Active Learning: update learner predictions'."
                )
            if result["task_url"]:
                lines.append(f"CVAT task: [{result['task_url']}]({result['task_url']})")
            if result["already_in_flight"]:
                lines.append("This round was already out for review; nothing new was queried.")
            return {**result, "loop": loop, "lines": lines + _lines_of(result)}

        return _guarded(ctx, work)

    def resolve_output(self, ctx):
        return _markdown_outputs(ctx, "Batch queried")


class UpdateLearnerPredictions(_Background):
    @property
    def config(self):
        return _config(
            "update_learner_predictions",
            "update learner predictions",
            "End the round's review, teach the learner, rewrite its predictions",
            background=True,
        )

    def resolve_input(self, ctx):
        inputs = types.Object()
        loop = _choose_loop(ctx, inputs)
        if loop is None:
            return types.Property(inputs)
        current = actions.in_flight(loop)
        if current is None:
            _problem(
                inputs,
                "nothing",
                f"loop {loop!r} has no round to update yet: query a batch first",
            )
            return types.Property(inputs)
        inputs.view("round", types.Notice(label=actions.status(loop)["lines"][1]))
        choice = types.RadioGroup()
        choice.add_choice("wait", label="Review finished: take every answer (unmarked = correct)")
        choice.add_choice("accept_partial", label="Take only the samples marked so far")
        choice.add_choice("cancel", label="Cancel the round (its batch returns to the pool)")
        choice.add_choice("fail", label="Mark the round failed (its batch returns to the pool)")
        inputs.enum("when_unfinished", [*WHEN_UNFINISHED, "fail"], default="wait", view=choice)
        _delegation_input(ctx, inputs)
        return types.Property(inputs, view=types.View(label="Active Learning: update learner"))

    def execute(self, ctx):
        def work():
            loop = ctx.params.get("loop") or actions.loops_of(ctx.dataset.name)[0]
            ctx.set_progress(progress=0.05, label=f"updating loop {loop!r}")
            choice = ctx.params.get("when_unfinished", "wait")
            result = actions.fail(loop) if choice == "fail" else actions.update(loop, choice)
            ctx.ops.reload_dataset()
            r = result["round"]
            lines = [
                f"Round {r['round']} of `{loop}` is {r['state']}: {r['labelled'] or '-'} labels"
                + (f", held-out accuracy {r['accuracy']:.3f}" if r["accuracy"] else ""),
                *_lines_of(result),
            ]
            return {**result, "loop": loop, "lines": lines}

        return _guarded(ctx, work)

    def resolve_output(self, ctx):
        return _markdown_outputs(ctx, "Learner updated")


class LoopStatus(foo.Operator):
    @property
    def config(self):
        return _config(
            "loop_status",
            "loop status",
            "Where the loop stands: round, state, labels, learning curve",
        )

    def resolve_input(self, ctx):
        inputs = types.Object()
        loop = _choose_loop(ctx, inputs)
        if loop is not None:
            try:
                inputs.md(_status_markdown(actions.status(loop)), name="status")
            except LedgerError as exc:
                _problem(inputs, "status_error", str(exc))
        return types.Property(inputs, view=types.View(label="Active Learning: loop status"))

    def execute(self, ctx):
        def work():
            loop = ctx.params.get("loop") or actions.loops_of(ctx.dataset.name)[0]
            st = actions.status(loop)
            return {"loop": loop, "lines": [_status_markdown(st)], "status": st["lines"]}

        return _guarded(ctx, work)

    def resolve_output(self, ctx):
        return _markdown_outputs(ctx, "Loop status")


def _status_markdown(st: dict) -> str:
    """The status lines, then the learning curve as a table when there is one."""
    lines = [f"- {line}" for line in st["lines"]]
    if st["curve"]:
        lines += ["", "| round | labelled | held-out accuracy |", "|---:|---:|---:|"]
        for row in st["curve"]:
            acc = "-" if row["accuracy"] is None else f"{row['accuracy']:.3f}"
            lines.append(f"| {row['round']} | {row['labelled']} | {acc} |")
    return "\n".join(lines)


def register(plugin):
    plugin.register(CreateLearner)
    plugin.register(QueryLearner)
    plugin.register(UpdateLearnerPredictions)
    plugin.register(LoopStatus)
