"""What commands print: fixed-width tables, and the columns of a round's row."""

from __future__ import annotations

from typing import Any

import typer

ROUND_COLUMNS = [
    ("round", "round", ""),
    ("state", "state", ""),
    ("queried", "queried", ""),
    ("labelled", "labelled", ""),
    ("accuracy", "accuracy", ".3f"),
    ("macro_f1", "macro-F1", ".3f"),
    ("changed", "changed", ""),
    # time from query to taught, waiting for annotators included
    ("seconds", "round-seconds", ".1f"),
]


# a detection loop's rows: images and boxes labelled, mAP in place of accuracy
DETECTION_COLUMNS = [
    ("round", "round", ""),
    ("state", "state", ""),
    ("queried", "queried", ""),
    ("labelled", "images", ""),
    ("labelled_boxes", "boxes", ""),
    ("mAP", "mAP", ".3f"),
    ("mAP50", "mAP@.5", ".3f"),
    ("changed", "changed", ""),
    ("seconds", "round-seconds", ".1f"),
]


def columns_for(rows: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """The round columns for these rows: a detection loop's when they count boxes."""
    detecting = any(r.get("labelled_boxes") is not None or "mAP" in r for r in rows)
    return DETECTION_COLUMNS if detecting else ROUND_COLUMNS


def _fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "-"
    return format(value, spec) if spec else str(value)


def print_table(rows: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> None:
    """Print rows as a fixed-width table; columns are (key, header, format spec)."""
    cells = [[_fmt(r.get(k), spec) for k, _, spec in columns] for r in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, (_, h, _) in enumerate(columns)]
    typer.echo("  ".join(h.rjust(w) for (_, h, _), w in zip(columns, widths, strict=True)))
    for row in cells:
        typer.echo("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
