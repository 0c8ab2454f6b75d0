"""What the App's operators say: result records of :mod:`alflow.app.actions` as lines of text.

Pure functions on the small dicts the actions return, so every sentence an App user reads is
tested without FiftyOne's UI.
"""

from __future__ import annotations

from typing import Any

from alflow.app.forms import naming_notice
from alflow.config import naming
from alflow.config.loop import StepOptions

# what a step does with a round whose annotation is unfinished, as the update form offers it
WHEN_UNFINISHED = list(StepOptions.model_fields["when_unfinished"].annotation.__args__)

NO_FEATURES = (
    "dataset {dataset!r} has no numeric feature field: compute embeddings "
    "(dataset.compute_embeddings) or add float fields first"
)
NO_LABELS = (
    "No Classification field and no sample tags: label a few samples (or tag them with class "
    "names), or choose initial labels 'none' with a cold-start strategy (typiclust, "
    "typiclust_margin, random)"
)
NO_LOOP = (
    "dataset {dataset!r} has no active-learning loop: run 'Active Learning: create learner' first"
)


def where_it_ran(result: dict[str, Any]) -> list[str]:
    """Where the flow ran (a deployment run, or why in-process) and the flow run's link."""
    lines = []
    if result.get("ran"):
        lines.append(f"Ran {result['ran']}.")
    if result.get("run_url"):
        lines.append(f"Prefect flow run: [{result['run_url']}]({result['run_url']})")
    return lines


def _accuracy(record: dict[str, Any]) -> str:
    return f", held-out accuracy {record['accuracy']:.3f}" if record.get("accuracy") else ""


def created(loop: str, result: dict[str, Any]) -> list[str]:
    """The result of 'create learner': round 0's labels and accuracy, the names it writes."""
    r0 = result["round_0"]
    return [
        f"Loop `{loop}` created: round 0 learned from {r0['labelled']} labels{_accuracy(r0)}",
        naming_notice(loop),
        *where_it_ran(result),
    ]


def queried(loop: str, result: dict[str, Any]) -> list[str]:
    """The result of 'query learner': the batch, where to review it, what to run next."""
    ids = result["sample_ids"]
    lines = [f"Round {result['round']['round']} of `{loop}`: {len(ids)} samples, in query order."]
    if result.get("view"):
        lines.append(
            f"Saved as the view `{result['view']}`. Tag wrong predictions with the right class "
            f"name, or edit `{naming.review_field(loop)}` in the annotation panel; then run "
            "'Active Learning: update learner predictions'."
        )
    if result.get("task_url"):
        lines.append(f"CVAT task: [{result['task_url']}]({result['task_url']})")
    if result.get("already_in_flight"):
        lines.append("This round was already out for review; nothing new was queried.")
    return lines + where_it_ran(result)


def updated(loop: str, result: dict[str, Any]) -> list[str]:
    """The result of 'update learner predictions': the round's state, labels and accuracy."""
    r = result["round"]
    return [
        f"Round {r['round']} of `{loop}` is {r['state']}: {r['labelled'] or '-'} labels"
        + _accuracy(r),
        *where_it_ran(result),
    ]


def in_flight_warning(current: dict[str, Any]) -> str:
    """Why 'query learner' will show a batch already out instead of querying a new one."""
    return (
        f"Round {current['round']} is already {current['state']}: Execute shows it; finish it "
        "with 'Active Learning: update learner predictions'"
    )


def nothing_to_update(loop: str) -> str:
    return f"loop {loop!r} has no round to update yet: query a batch first"


def name_taken(name: str) -> str:
    return f"a loop named {name!r} exists: choose another name"


def too_few_classes(field: str, found: int) -> str:
    return (
        f"field {field!r} holds {found} class(es); a learner needs two: label samples of "
        "another class first"
    )


def status_markdown(st: dict[str, Any]) -> str:
    """The status lines, then the learning curve as a table when there is one."""
    lines = [f"- {line}" for line in st["lines"]]
    if st["curve"]:
        lines += ["", "| round | labelled | held-out accuracy |", "|---:|---:|---:|"]
        for row in st["curve"]:
            acc = "-" if row["accuracy"] is None else f"{row['accuracy']:.3f}"
            lines.append(f"| {row['round']} | {row['labelled']} | {acc} |")
    return "\n".join(lines)
