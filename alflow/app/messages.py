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
NO_BOXES = (
    "No Detections field on this dataset: a detection loop starts from a few images' boxes; "
    "draw them in the App's Annotate tab (a new Detections field), then create the learner"
)
NO_LOOP = (
    "dataset {dataset!r} has no active-learning loop: run 'Active Learning: create learner' first"
)


NO_GROUND_TRUTH = (
    "No ground-truth field: nothing is held out for evaluation (held-out share 0), so rounds "
    "report no accuracy. Choose a ground-truth field to hold out a share and score it."
)
DELEGATE = "Run long fits in FiftyOne's background executor; follow them in the App's runs"
TITLES = {  # an operator's result title, and the title when it failed
    "create": ("Learner created", "Learner not created"),
    "query": ("Batch queried", "No batch queried"),
    "update": ("Learner updated", "Learner not updated"),
    "status": ("Loop status", "Loop status unavailable"),
}
FORM_WORDS = {  # pydantic's words, as the form says them beside the field
    "List should have at least 1 item after validation, not 0": "choose at least one",
    "Field required": "required: choose or enter a value",
}


def form_problem(loc: str, message: str) -> str:
    """One problem of the create form, as shown beside the field at fault."""
    words = FORM_WORDS.get(message, message)
    field = {"features.fields": "feature fields"}.get(loc, loc.replace("_", " "))
    return f"{field}: {words}" if loc else words


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
        return [f"*Ran as a deployment on your Prefect server{link}.*"]
    # in a person's words: the command and the address stay in the result's "ran"
    why = (
        "no worker is running alflow's deployment on your Prefect server"
        if "no worker" in result["ran"]
        else "alflow's flows are not deployed on your Prefect server"
    )
    return [f"*Ran in the App's process: {why}.*"]


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
    if result.get("view") and result.get("task") == "detection":
        lines.append(
            f"They are saved as the view `{result['view']}`. Correct the boxes of "
            f"`{naming.review_field(loop)}` in the Annotate tab: move, resize or delete them, "
            f"draw the missing ones, fix their classes; then run {UPDATE}."
        )
    elif result.get("view"):
        lines.append(
            f"They are saved as the view `{result['view']}`. Tag each wrong prediction with the "
            f"right class name, or edit `{naming.review_field(loop)}` in the annotation panel; "
            f"then run {UPDATE}."
        )
    elif result.get("task_url"):
        lines.append(
            f"Annotate them in the {result.get('annotated_in', 'CVAT task')} "
            f"[{result['task_url']}]({result['task_url']}); when they are done, run {UPDATE}."
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


def review_counts(c: dict[str, Any]) -> str:
    """The live count of the round's review, for the update form."""
    marked = c["tagged"] + c["edited"]
    parts = [
        f"{marked} of {c['total']} marked ({c['tagged']} by tag, {c['edited']} edited)",
        f"{len(c['unresolved'])} unresolved",
        f"{c['skipped']} skipped",
        f"{c['unmarked']} unmarked",
    ]
    return f"Round {c['round']} review so far: " + ", ".join(parts) + "."


def update_warning(choice: str, c: dict[str, Any] | None) -> str | None:
    """Why the chosen action may not be what the reviewer means, or None."""
    if c is None:
        return None
    marked = c["tagged"] + c["edited"]
    if choice == "wait" and c["unmarked"]:
        every = "every sample" if c["unmarked"] == c["total"] else f"{c['unmarked']} samples"
        return (
            f"Nothing is marked on {every}: they will be learned as the model predicted them. "
            "Tag or edit the wrong ones first, or take only the marked samples."
        )
    if choice == "accept_partial" and not marked:
        return (
            f"No sample is marked yet: the learner learns nothing, and the {c['total']} "
            "samples go back to the pool unlabelled."
        )
    return None


def _delta(o: dict[str, Any]) -> str:
    now, before = o.get("accuracy"), o.get("accuracy_before")
    if now is None:
        return ""
    if before is None:
        return f" Held-out accuracy: {now:.3f}."
    return f" Held-out accuracy: {before:.3f} → {now:.3f} ({now - before:+.3f})."


def review_lines(o: dict[str, Any] | None, dataset: str) -> list[str]:
    """What the review of a round did: corrected, accepted, skipped, unresolved, learned."""
    if o is None:
        return []
    lines = [
        f"Review of round {o['round']}: {o['corrected']} corrected, {o['accepted']} accepted, "
        f"{o['skipped']} skipped, {len(o['unresolved'])} unresolved; {o['learned']} labels "
        f"learned.{_delta(o)}"
    ]
    if o["pending"]:
        lines.append(f"{o['pending']} unmarked samples went back to the pool unlabelled.")
    if o["unresolved"]:
        lines += [f"- unresolved: {reason}" for reason in o["unresolved"][:5]]
    if o.get("view"):
        link = f"/datasets/{dataset}?view={o['view']}"
        lines.append(
            f"Unresolved and skipped samples are back in the pool; see them in the view "
            f"[{o['view']}]({link})."
        )
    return lines


def status_lines(st: dict[str, Any]) -> list[str]:
    """Where a loop stands, in the App's words (no commands, processes or addresses)."""
    head = f"Loop `{st['loop']}` on dataset `{st['dataset']}`: {st['status']}"
    lines = [head + (f" ({st['done_reason']})" if st.get("done_reason") else "")]
    if st.get("round") is None:
        lines.append(
            "A step is working on it now; try again in a minute."
            if st.get("lock")
            else f"No round out for review: run {QUERY} for the next batch."
            if st["status"] == "active"
            else "Paused: it queries no batch until it is resumed."
            if st["status"] == "paused"
            else "It queries no more batches."
        )
    elif st.get("backend") == "app" and st.get("state") in ("exported", "waiting"):
        lines.append(f"Round {st['round']} is under review in the App: then run {UPDATE}.")
    elif st.get("total") is not None:
        lines.append(f"Round {st['round']}: {st['done']} of {st['total']} finished.")
    else:
        lines.append(f"Round {st['round']} is {st['state']}: run {UPDATE} to continue.")
    if st.get("labelled") is not None:
        lines.append(f"Labelled: {st['labelled']}.")
    return lines


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


def status_markdown(st: dict[str, Any], dataset: str = "") -> str:
    """The status lines, what the last review did, then the learning curve as a table."""
    lines = [f"- {line}" for line in status_lines(st)]
    review = review_lines(st.get("review"), dataset or st["dataset"])
    lines += ["", *review] if review else []
    if st["curve"]:
        lines += ["", "| round | labelled | held-out accuracy |", "|---:|---:|---:|"]
        for row in st["curve"]:
            acc = "-" if row["accuracy"] is None else f"{row['accuracy']:.3f}"
            lines.append(f"| {row['round']} | {row['labelled']} | {acc} |")
    return "\n".join(lines)
