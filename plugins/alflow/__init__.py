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

from alflow.app import actions, messages, review
from alflow.app.forms import (
    config_from_answers,
    config_problems,
    name_problem,
    naming_notice,
    render_loop_form,
    suggest_name,
)
from alflow.errors import AlflowError, LedgerError


def _problem(inputs, name: str, message: str) -> None:
    """An error in the form that blocks Execute until it is fixed."""
    inputs.view(name, types.Error(label=message), invalid=True, error_message=message)


def _beside(inputs, name: str, field: str, message: str) -> None:
    """A blocking error placed right below the form field at fault (``field``)."""
    _problem(inputs, name, message)
    _place(inputs, name, field)


def _place(inputs, name: str, field: str) -> None:
    """Move the property ``name`` right below ``field`` (when the form has it)."""
    props = inputs.properties
    if field in props:
        order = [k for k in props if k != name]
        order.insert(order.index(field) + 1, name)
        for key in order:
            props[key] = props.pop(key)


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
        description=messages.DELEGATE,
    )


def _markdown_outputs(ctx, operation: str):
    """The result: its lines under the success title, or the error under the failure title."""
    outputs = types.Object()
    results = ctx.results or {}
    done, failed = messages.TITLES[operation]
    if results.get("error"):
        outputs.view("error", types.Error(label=results["error"]))
    else:
        outputs.md("\n\n".join(results.get("lines", [])), name="summary")
    title = failed if results.get("error") else done
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
        answers = dict(ctx.params)
        if answers.get("task") == "detection" and not choices.detection_fields:
            inputs.view("no_labels", types.Warning(label=messages.NO_BOXES))
        elif answers.get("task") != "detection" and not (
            choices.classification_fields or choices.tags
        ):
            inputs.view("no_labels", types.Warning(label=messages.NO_LABELS))
        answers.setdefault("name", suggest_name(ctx.dataset.name, choices.loops))
        render_loop_form(inputs, answers, choices)
        inputs.properties["name"].default = answers["name"]
        if not answers.get("ground_truth_field", choices.ground_truth()):
            inputs.view("no_ground_truth", types.Notice(label=messages.NO_GROUND_TRUTH))
            _place(inputs, "no_ground_truth", "ground_truth_field")
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
                _beside(inputs, "one_class", "initial_labels", problem)
        # every change re-validates the whole form (removing a feature too): a problem blocks
        # Execute and sits below the field at fault
        form = {k: v for k, v in answers.items() if k in inputs.properties or k == "delegate"}
        for field, loc, message in config_problems(form, ctx.dataset.name):
            text = messages.form_problem(loc, message)
            _beside(inputs, f"{field}_problem", field, text)

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
        return _markdown_outputs(ctx, "create")


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
        return _markdown_outputs(ctx, "query")


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
        counts = review.live_counts(loop)
        if counts is None:
            line = messages.status_lines(actions.status(loop))[1]
        else:
            line = messages.review_counts(counts)
        inputs.view("round", types.Notice(label=line))
        choice = types.RadioGroup()
        choice.add_choice("wait", label="Review finished: take every answer (unmarked = correct)")
        choice.add_choice("accept_partial", label="Take only the samples marked so far")
        choice.add_choice("cancel", label="Cancel the round (its batch returns to the pool)")
        choice.add_choice("fail", label="Mark the round failed (its batch returns to the pool)")
        inputs.enum(
            "when_unfinished", [*messages.WHEN_UNFINISHED, "fail"], default="wait", view=choice
        )
        warning = messages.update_warning(ctx.params.get("when_unfinished", "wait"), counts)
        if warning:
            inputs.view("review_warning", types.Warning(label=warning))
        _delegation_input(ctx, inputs)
        return types.Property(inputs, view=types.View(label="Active Learning: update learner"))

    def execute(self, ctx):
        def work():
            loop = actions.chosen_loop(ctx.dataset.name, ctx.params)
            ctx.set_progress(progress=0.05, label=f"updating loop {loop!r}")
            choice = ctx.params.get("when_unfinished", "wait")
            result = actions.fail(loop) if choice == "fail" else actions.update(loop, choice)
            did = review.outcome(loop, result["round"]["round"])
            review.save_unresolved_view(ctx.dataset, did)
            ctx.ops.reload_dataset()
            lines = messages.updated(loop, result)
            lines[1:1] = messages.review_lines(did, ctx.dataset.name)
            return {**result, "loop": loop, "review": did, "lines": lines}

        return _guarded(ctx, work)

    def resolve_output(self, ctx):
        return _markdown_outputs(ctx, "update")


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
                st = {**actions.status(loop), "review": review.last_outcome(loop)}
                inputs.md(messages.status_markdown(st, ctx.dataset.name), name="status")
            except LedgerError as exc:
                _problem(inputs, "status_error", str(exc))
        return types.Property(inputs, view=types.View(label="Active Learning: loop status"))

    def execute(self, ctx):
        def work():
            loop = actions.chosen_loop(ctx.dataset.name, ctx.params)
            st = {**actions.status(loop), "review": review.last_outcome(loop)}
            text = messages.status_markdown(st, ctx.dataset.name)
            return {"loop": loop, "lines": [text], "status": messages.status_lines(st)}

        return _guarded(ctx, work)

    def resolve_output(self, ctx):
        return _markdown_outputs(ctx, "status")


def register(plugin):
    plugin.register(CreateLearner)
    plugin.register(QueryLearner)
    plugin.register(UpdateLearnerPredictions)
    plugin.register(LoopStatus)
