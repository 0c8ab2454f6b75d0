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


QUERY = "'Active Learning: query learner'"
UPDATE = "'Active Learning: update learner predictions'"


def where_it_ran(result: dict[str, Any]) -> list[str]:
    """Where the operation ran, as one small detail line, for a user whose own Prefect API
    (``PREFECT_API_URL``) was expected to run alflow's deployments; nothing on alflow's own
    servers, where the App's process is simply where alflow runs."""
    if not result.get("deployments_expected") or not result.get("ran"):
        return []
    if result.get("deployment_run"):
        link = f": [Prefect flow run]({result['run_url']})" if result.get("run_url") else ""
        return [f"*Ran as {result['ran']}{link}.*"]
    return [f"*Ran {result['ran']}.*"]


def _accuracy(record: dict[str, Any]) -> str:
    return f", held-out accuracy {record['accuracy']:.3f}" if record.get("accuracy") else ""


def created(loop: str, result: dict[str, Any]) -> list[str]:
    """The result of 'create learner': round 0's labels and accuracy, what to do next, the
    names it writes."""
    r0 = result["round_0"]
    return [
        f"Loop `{loop}` is ready: round 0 learned from {r0['labelled']} labels{_accuracy(r0)}.",
        f"Next: run {QUERY} to pick the first batch for review.",
        naming_notice(loop),
        *where_it_ran(result),
    ]


def queried(loop: str, result: dict[str, Any]) -> list[str]:
    """The result of 'query learner': the batch, where to review it, what to run next."""
    number, count = result["round"]["round"], len(result["sample_ids"])
    if result.get("already_in_flight"):
        lines = [
            f"Round {number} of `{loop}` is already out for review ({count} samples); "
            "nothing new was queried."
        ]
    else:
        lines = [
            f"Round {number} of `{loop}`: the learner picked {count} samples for review, "
            "shown in the order it ranks them."
        ]
    if result.get("view"):
        lines.append(
            f"They are saved as the view `{result['view']}`. Tag each wrong prediction with the "
            f"right class name, or edit `{naming.review_field(loop)}` in the annotation panel; "
            f"then run {UPDATE}."
        )
    elif result.get("task_url"):
        lines.append(
            f"Annotate them in the CVAT task [{result['task_url']}]({result['task_url']}); when "
            f"its jobs are done, run {UPDATE}."
        )
    else:
        lines.append(f"When they are labelled, run {UPDATE} to teach the learner.")
    return lines + where_it_ran(result)


def updated(loop: str, result: dict[str, Any]) -> list[str]:
    """The result of 'update learner predictions': what happened to the round, and what next."""
    r = result["round"]
    head = f"Round {r['round']} of `{loop}`"
    next_batch = f"Next: run {QUERY} for a new batch."
    if r["state"] == "taught":
        lines = [f"{head} is done: the learner now knows {r['labelled']} labels{_accuracy(r)}."]
    elif r["state"] in ("cancelled", "failed"):
        ended = "cancelled" if r["state"] == "cancelled" else "marked failed"
        lines = [
            f"{head} is {ended}: its unlabelled samples are back in the pool, and labels "
            "already taken are kept for the next teach."
        ]
    elif r["state"] in ("exported", "waiting"):
        return [
            f"{head} is still out for annotation, so nothing was taught yet. Run this again "
            "when the annotators are done, or choose to take only the finished samples or to "
            "cancel the round.",
            *where_it_ran(result),
        ]
    else:
        return [f"{head} is {r['state']}.", *where_it_ran(result)]
    if result.get("loop_status") == "done":
        reason = f" ({result['done_reason']})" if result.get("done_reason") else ""
        lines.append(f"The loop has reached its stop rule{reason} and queries no more batches.")
    else:
        lines.append(next_batch)
    return lines + where_it_ran(result)


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
