"""Round reports: the learning-curve table, the round summary in markdown, the curve as PNG.

Pure functions of ledger records, so the same report feeds the CLI, Prefect artifacts and tests;
:func:`round_report` gathers them for one round from the ledger and saves the plot beside the
loop's state, so the artifacts task only publishes.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alflow.services.environment import state_dir
from alflow.state.ledger import TAUGHT, Ledger

DETECTION_METRICS = ("labelled_boxes", "mAP", "mAP50")


def curve_rows(rounds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per taught round: round, labelled, accuracy, macro-F1 (None without truth);
    a detection loop's rows have boxes labelled, mAP and mAP@.5 instead of the scores."""
    rows = []
    for doc in rounds:
        if doc["state"] != TAUGHT:
            continue
        metrics = doc.get("metrics", {})
        row = {"round": doc["round"], "labelled": metrics.get("labelled")}
        if any(key in metrics for key in DETECTION_METRICS):
            row.update({key: metrics.get(key) for key in DETECTION_METRICS})
        else:
            row.update({key: metrics.get(key) for key in ("accuracy", "macro_f1")})
        rows.append(row)
    return rows


def curve_table(rows: list[dict[str, Any]], digits: int = 3) -> list[dict[str, Any]]:
    """The curve rows as the learning-curve table artifact shows them: scores to ``digits``
    places (0.618, not 0.6183844011142061)."""
    return [
        {k: round(v, digits) if isinstance(v, float) else v for k, v in row.items()} for row in rows
    ]


def _cell(text: object) -> str:
    """Text safe inside a markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def advance_markdown(report: dict[str, str]) -> str:
    """The scheduled advance's report: per loop, what was done or why it was skipped."""
    if not report:
        return "# alflow advance\n\nNo active loop to advance.\n"
    lines = ["# alflow advance", "", "| loop | what happened |", "| --- | --- |"]
    lines += [f"| {_cell(loop)} | {_cell(what)} |" for loop, what in report.items()]
    return "\n".join(lines) + "\n"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def round_markdown(doc: dict[str, Any], task_url: str | None = None) -> str:
    """The markdown summary of one round."""
    metrics = doc.get("metrics", {})
    ingest = doc.get("ingest", {})
    lines = [
        f"# {doc['loop']} round {doc['round']}",
        "",
        "| | |",
        "|---|---|",
        f"| loop | `{doc['loop']}` |",
        f"| round | {doc['round']} |",
        f"| state | {doc['state']} |",
        f"| strategy | {doc.get('strategy', 'n/a')} |",
        f"| queried | {len(doc.get('queried_ids', []))} |",
        f"| labels changed by annotators | {ingest.get('changed', 'n/a')} |",
        f"| unresolved (back to the pool) | {len(ingest.get('unresolved', []))} |",
        f"| labelled so far | {metrics.get('labelled', 'n/a')} |",
        *_score_lines(metrics, ingest),
    ]
    if task_url:
        where = annotation_place((doc.get("backend") or {}).get("ref") or {})
        lines.append(f"| {where} | [{task_url}]({task_url}) |")
    retrain = doc.get("retrain")
    if retrain:
        lines.append(f"| retraining | {_retrain_cell(retrain)} |")
    ended = doc.get("ended")
    if ended:
        lines.append(
            f"| {ended['outcome']} | from {ended['from_state']}"
            + (f": {ended['reason']}" if ended.get("reason") else "")
            + f"; {ended['returned_to_pool']} back to the pool, "
            f"{ended['labels_kept']} labels kept |"
        )
    notes = [n["note"] for n in doc.get("notes", [])]
    if notes:
        lines += ["", "## Notes", "", *(f"* {note}" for note in notes)]
    crashed = doc.get("crashed_runs", [])
    if crashed:
        lines += ["", "## Runs of this round that crashed", ""]
        lines += [f"* {_run_link(run)}: {run['why']}" for run in crashed]
    return "\n".join(lines) + "\n"


def _score_lines(metrics: dict[str, Any], ingest: dict[str, Any]) -> list[str]:
    """The held-out scores' rows: accuracy and macro-F1, or a detection loop's boxes and mAP."""
    if not any(key in metrics for key in DETECTION_METRICS):
        return [
            f"| held-out accuracy | {_num(metrics.get('accuracy'))} |",
            f"| held-out macro-F1 | {_num(metrics.get('macro_f1'))} |",
        ]
    boxes = ingest.get("boxes") or {}
    done = ", ".join(
        f"{boxes[k]} {k}" for k in ("kept", "moved", "relabelled", "added", "deleted") if k in boxes
    )
    return [
        f"| boxes labelled so far | {metrics.get('labelled_boxes', 'n/a')} |",
        f"| this round's boxes | {boxes.get('boxes', 'n/a')} ({done or 'none pre-filled'}) |",
        f"| held-out mAP@[.5:.95] | {_num(metrics.get('mAP'))} |",
        f"| held-out mAP@.5 | {_num(metrics.get('mAP50'))} |",
    ]


def _retrain_cell(record: dict[str, Any]) -> str:
    """A team's retraining job of the round: its run's link and state, or what it waits on."""
    if record.get("kind") == "deployment":
        run = {"name": record.get("flow_run_name"), "url": record.get("url")}
        return f"{_run_link(run)} of `{record['deployment']}`: {record.get('state')}"
    if record.get("kind") == "entry_point":
        return f"`{record['target']}`: {record.get('state')}"
    return _cell(record.get("state") or "waiting for new predictions")


def _run_link(run: dict[str, Any]) -> str:
    return f"[{run['name']}]({run['url']})" if run.get("url") else f"`{run['name']}`"


def curve_png(rows: list[dict[str, Any]], title: str) -> bytes:
    """The learning curve (held-out accuracy, or a detection loop's mAP, against labels) as
    PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    score, label = (
        ("mAP", "held-out mAP@[.5:.95]")
        if any("mAP" in r for r in rows)
        else (
            "accuracy",
            "held-out accuracy",
        )
    )
    points = [(r["labelled"], r[score]) for r in rows if r.get(score) is not None]
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    if points:
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, marker="o")
    ax.set_xlabel("labelled samples")
    ax.set_ylabel(label)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def data_url(png: bytes) -> str:
    """A ``data:`` URL for PNG bytes, so the Prefect UI shows the image with no file server."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def annotation_place(ref: dict[str, Any]) -> str:
    """What the round's annotation link opens, in the annotation tool's own words."""
    return "Label Studio project" if ref.get("kind") == "label_studio" else "CVAT task"


def task_url(ref: dict[str, Any]) -> str | None:
    """The annotation tool's page for a backend reference: a CVAT task or a Label Studio
    project; None for the in-App review and the simulated annotator."""
    if ref.get("task_url"):
        return str(ref["task_url"])
    if ref.get("url") and ref.get("task_id") is not None:
        return f"{str(ref['url']).rstrip('/')}/tasks/{ref['task_id']}"
    return None


@dataclass(frozen=True)
class RoundReport:
    """What the artifacts of one round show, and where its plot was saved."""

    record: dict[str, Any]
    curve_rows: list[dict[str, Any]]
    plot_png: bytes
    plot_path: Path
    task_url: str | None

    @property
    def markdown(self) -> str:
        return round_markdown(self.record, self.task_url)


def curve_plot_path(loop: str, round_number: int) -> Path:
    """Where the learning-curve plot after round ``round_number`` is saved."""
    return state_dir() / "reports" / loop / f"learning-curve-round-{round_number:03d}.png"


def round_report(ledger: Ledger, loop: str, round_number: int) -> RoundReport:
    """Round ``round_number``'s summary, curve and plot from the ledger; the plot is saved too.

    The plot is kept as a file because the Prefect artifact holds only what the UI shows; the
    file lets a round's curve be looked at again without a Prefect server.
    """
    doc = ledger.round(loop, round_number)
    ref = (doc.get("backend") or {}).get("ref") or {}
    rows = curve_rows(ledger.rounds(loop))
    png = curve_png(rows, f"{loop} learning curve")
    path = curve_plot_path(loop, round_number)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return RoundReport(doc, rows, png, path, task_url(ref))
