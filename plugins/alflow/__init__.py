"""alflow's FiftyOne App operators: create, query and update a learner, and the loop's status.

Each operator only translates between the App and :mod:`alflow.app.actions`, which runs alflow's
flows on alflow's ledger; nothing is kept in this module, so an App restart, a second App, the
CLI and the schedule all see and advance the same loops. Bad input shows in the form (an error
that blocks Execute, saying how to fix it) or as the run's one-line error, never a traceback.
"""

from __future__ import annotations

import fiftyone.operators as foo
from fiftyone.operators import types

from alflow.services import configured  # noqa: F401  (before Prefect and FiftyOne)

# isort: split

from alflow.app import actions, messages
from alflow.app.forms import (
    config_from_answers,
    name_problem,
    naming_notice,
    render_loop_form,
    suggest_name,
)
from alflow.errors import AlflowError, LedgerError


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
        _problem(inputs, "no_loop", messages.NO_LOOP.format(dataset=ctx.dataset.name))
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
            _problem(inputs, "no_features", messages.NO_FEATURES.format(dataset=ctx.dataset.name))
        if not choices.classification_fields and not choices.tags:
            inputs.view("no_labels", types.Warning(label=messages.NO_LABELS))
        answers = dict(ctx.params)
        answers.setdefault("name", suggest_name(ctx.dataset.name, choices.loops))
        render_loop_form(inputs, answers, choices)
        inputs.properties["name"].default = answers["name"]
        self._check(ctx, inputs, answers, choices)
        _delegation_input(ctx, inputs)
        return types.Property(inputs, view=types.View(label="Active Learning: create learner"))

    def _check(self, ctx, inputs, answers, choices) -> None:
        name = answers.get("name")
        problem = name_problem(name)
        if problem:
            _problem(inputs, "bad_name", problem)
            return
        inputs.view("naming", types.Notice(label=naming_notice(name)))
        if name in actions.loops_of(ctx.dataset.name) or actions.loop_exists(name):
            _problem(inputs, "name_taken", messages.name_taken(name))
        source = answers.get("initial_labels") or {}
        # a detection loop's initial boxes are checked by the configuration (their field type)
        detecting = answers.get("task") == "detection"
        if source.get("kind", "field") == "field" and not detecting:
            problem = actions.initial_field_problem(ctx.dataset, source.get("field"))
            if problem:
                _problem(inputs, "one_class", problem)
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
            lines = messages.created(config.name, result)
            return {
                "loop": config.name,
                "round_0": result["round_0"],
                "lines": lines,
                "ran": result["ran"],
            }

        return _guarded(ctx, work)

    def resolve_output(self, ctx):
        return _markdown_outputs(ctx, "Learner created")


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
            inputs.view("in_flight", types.Warning(label=messages.in_flight_warning(current)))
        inputs.int("batch_size", min=1, label="Batch size", description="Default: the loop's")
        return types.Property(inputs, view=types.View(label="Active Learning: query learner"))

    def execute(self, ctx):
        def work():
            loop = actions.chosen_loop(ctx.dataset.name, ctx.params)
            result = actions.query(loop, ctx.params.get("batch_size"))
            ctx.ops.reload_dataset()
            ctx.ops.set_view(view=ctx.dataset.select(result["sample_ids"], ordered=True))
            return {**result, "loop": loop, "lines": messages.queried(loop, result)}

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
            _problem(inputs, "nothing", messages.nothing_to_update(loop))
            return types.Property(inputs)
        inputs.view("round", types.Notice(label=actions.round_line(loop)))
        choice = types.RadioGroup()
        choice.add_choice("wait", label="Review finished: take every answer (unmarked = correct)")
        choice.add_choice("accept_partial", label="Take only the samples marked so far")
        choice.add_choice("cancel", label="Cancel the round (its batch returns to the pool)")
        choice.add_choice("fail", label="Mark the round failed (its batch returns to the pool)")
        inputs.enum(
            "when_unfinished", [*messages.WHEN_UNFINISHED, "fail"], default="wait", view=choice
        )
        _delegation_input(ctx, inputs)
        return types.Property(inputs, view=types.View(label="Active Learning: update learner"))

    def execute(self, ctx):
        def work():
            loop = actions.chosen_loop(ctx.dataset.name, ctx.params)
            ctx.set_progress(progress=0.05, label=f"updating loop {loop!r}")
            choice = ctx.params.get("when_unfinished", "wait")
            result = actions.fail(loop) if choice == "fail" else actions.update(loop, choice)
            ctx.ops.reload_dataset()
            return {**result, "loop": loop, "lines": messages.updated(loop, result)}

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
                inputs.md(messages.status_markdown(actions.status(loop)), name="status")
            except LedgerError as exc:
                _problem(inputs, "status_error", str(exc))
        return types.Property(inputs, view=types.View(label="Active Learning: loop status"))

    def execute(self, ctx):
        def work():
            loop = actions.chosen_loop(ctx.dataset.name, ctx.params)
            st = actions.status(loop)
            return {"loop": loop, "lines": [messages.status_markdown(st)], "status": st["lines"]}

        return _guarded(ctx, work)

    def resolve_output(self, ctx):
        return _markdown_outputs(ctx, "Loop status")


def register(plugin):
    plugin.register(CreateLearner)
    plugin.register(QueryLearner)
    plugin.register(UpdateLearnerPredictions)
    plugin.register(LoopStatus)
