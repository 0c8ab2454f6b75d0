"""Screenshots of a detection batch under review in the real FiftyOne App, through Chromium.

Run from the checkout (``make setup`` first; Chromium from ``apt-get install chromium``)::

    .venv/bin/python docs/screenshots/app_detection_screenshots.py

The services are those of ``app_screenshots.py`` (a temporary ALFLOW_HOME, its own mongod,
Prefect server and ``alflow app``). The detection demo data is built (digits pasted on
canvases, with proposals and a few canvases' boxes as the first labels), and a person's clicks
are replayed: the create form answered for a detection loop with the App's own review, then
the query. It writes ``docs/app-detection-queried.png`` (the round's batch in the grid, the
learner's boxes in the review field, the other label fields hidden) and
``docs/app-detection-review.png`` (one canvas of the batch opened on the Annotate tab).

The script fails when the App does not show what the pictures claim: the loop the browser
created must be a detection loop with the App's review, the grid must count and draw the round's
batch, the review field must be a Detections field holding boxes, and the opened sample must be
the batch's, its Annotate tab listing that sample's boxes of the review field.
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import parse_qs, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))

from app_screenshots import (
    DOCS,
    FORM_VIEWPORT,
    VIEWPORT,
    browser,
    check_created,
    close,
    created_loop,
    execute,
    open_dataset,
    open_operator,
    queried_ids,
    radio,
    run_script,
    wait_for_grid,
)

SHOTS = ("app-detection-queried.png", "app-detection-review.png")  # in docs/
CANVASES = 300  # the demo builds 600; half keeps the first round's box scoring short
INITIAL = 20  # canvases whose ground truth is the loop's first labels
FORM = {  # what the script answers in the create form, and what the ledger must then hold
    "task": "detection",
    "detection": {"proposals": {"field": "proposals"}},
    "features": {"fields": ["thumbnail"]},
    "initial_labels": {"kind": "field", "field": "initial_boxes"},
    "ground_truth_field": "ground_truth",
    "estimator": {"kind": "random_forest"},
    "strategy": {"name": "margin"},
    "backend": {"kind": "app"},
}


def build_demo(home: Path):
    """The detection demo dataset, ``INITIAL`` canvases carrying their boxes as first labels."""
    from alflow.demo import detection_data

    dataset = detection_data.build_detection_dataset(
        n=CANVASES, directory=home / "data" / "digit-boxes"
    )
    detection_data.seed_initial_boxes(dataset, INITIAL)
    return dataset


# ------------------------------------------------------------------------------ the shots
def shoot(address: str, dataset, home: Path) -> None:
    """Create and query in the App; the batch in the grid, then one canvas opened."""
    with browser(home) as (page, sent):
        open_dataset(page, address)
        page.set_viewport_size(FORM_VIEWPORT)
        form = open_operator(page, "Active Learning: create learner")
        fill_detection_form(page, form)
        print(execute(page, form, "Learner created"), flush=True)
        loop = created_loop(sent)
        check_created(loop, FORM)
        close(page)
        page.set_viewport_size(VIEWPORT)
        form = open_operator(page, "Active Learning: query learner")
        print(execute(page, form, "Batch queried"), flush=True)
        close(page)
        ids = queried_ids(loop)
        field, boxes = check_review_field(dataset, loop, ids)
        show_only(page, dataset, field)
        wait_for_grid(page, len(ids))
        check_tiles(page, len(ids))
        page.screenshot(path=DOCS / SHOTS[0])
        open_sample(page, ids, field, boxes)
        page.screenshot(path=DOCS / SHOTS[1])


# ------------------------------------------------------------------------------ the clicks
def fill_detection_form(page, dialog) -> None:
    """Answer the create form for the canvases as a person would (see ``FORM``).

    Choosing the task asks the server for the form again: the detection group and the label
    fields of Detections type appear only then.
    """
    from playwright.sync_api import expect

    radio(dialog, "detection")
    expect(dialog.get_by_text("box features", exact=True)).to_be_visible(timeout=30_000)
    radio(dialog, "proposals")  # the first group offering it: the detection's proposals
    features = dialog.get_by_placeholder("Type and press enter to add a value")
    features.click()
    page.get_by_role("option", name="thumbnail", exact=True).click()
    pick(page, dialog, "logistic_regression", "random_forest")
    pick(page, dialog, "typiclust_margin", "margin")
    expect(dialog.get_by_role("button", name="Execute")).to_be_enabled(timeout=30_000)


def pick(page, dialog, shown: str, choice: str) -> None:
    """Choose ``choice`` in the dropdown that shows ``shown``."""
    dialog.get_by_role("combobox").filter(has_text=shown).click()
    page.get_by_role("option", name=choice, exact=True).click()


def show_only(page, dataset, field: str) -> None:
    """Hide every label field in the grid's sidebar but the review field (the loop's
    predictions, proposals and ground truth would cover the reviewer's boxes)."""
    import fiftyone as fo

    for name in dataset.get_field_schema(embedded_doc_type=fo.Detections):
        box = page.locator(f'#root [data-cy="checkbox-{name}"]')
        if box.locator("input").is_checked() != (name == field):
            box.click()
    if not page.locator(f'#root [data-cy="checkbox-{field}"] input').is_checked():
        raise SystemExit(f"the App's sidebar does not show {field!r} after a click on it")


def open_sample(page, ids: list[str], field: str, boxes: list[int]) -> None:
    """Open the batch's first canvas with two boxes or more in the modal, on its Annotate tab,
    which must list that canvas's boxes of the review field."""
    from playwright.sync_api import expect

    index = next((i for i, n in enumerate(boxes) if n >= 2), 0)
    page.locator('#root [data-cy="looker"]').nth(index).click()
    page.locator('#modal [data-cy="looker"]').first.wait_for(timeout=60_000)
    shown = parse_qs(urlparse(page.url).query).get("id", [""])[0]
    if shown != ids[index]:
        raise SystemExit(f"the modal shows sample {shown!r}, not the batch's {ids[index]!r}")
    page.get_by_text("Annotate", exact=True).click()
    listed = page.locator(f'#modal [data-cy^="annotate-label-"][data-cy-path="{field}"]')
    try:
        expect(listed).to_have_count(boxes[index], timeout=60_000)
    except AssertionError:
        raise SystemExit(
            f"the Annotate tab lists {listed.count()} boxes of {field!r}, "
            f"not the {boxes[index]} the canvas holds"
        ) from None
    print(f"checked: the Annotate tab lists the opened canvas's {boxes[index]} boxes", flush=True)
    page.mouse.move(10, VIEWPORT["height"] - 10)
    page.wait_for_timeout(2_000)  # the modal's looker paints its boxes after the list


# ------------------------------------------------------------------------------ the checks
def check_review_field(dataset, loop: str, ids: list[str]) -> tuple[str, list[int]]:
    """The review field is a Detections field holding the learner's boxes on the batch;
    returns its name and the boxes per canvas, in query order."""
    import fiftyone as fo

    from alflow.config import naming

    dataset.reload()  # the App's process added the loop's fields since this one loaded it
    field = naming.review_field(loop)
    if field not in dataset.get_field_schema(embedded_doc_type=fo.Detections):
        raise SystemExit(f"{field!r} is not a Detections field of {dataset.name!r} after the query")
    found = dataset.select(ids, ordered=True).values(f"{field}.detections")
    boxes = [len(d or []) for d in found]
    if sum(boxes) == 0:
        raise SystemExit(f"{field!r} holds no box on the {len(ids)} queried canvases")
    print(f"checked: {field} holds {sum(boxes)} boxes on the batch of {len(ids)}", flush=True)
    return field, boxes


def check_tiles(page, count: int) -> None:
    """The grid draws one tile per sample of the batch."""
    tiles = page.locator('#root [data-cy="looker"]').count()
    if tiles != count:
        raise SystemExit(f"the grid draws {tiles} tiles, not the batch of {count}")


if __name__ == "__main__":
    run_script(__doc__, build_demo, shoot, SHOTS)
