"""Screenshots of alflow's operators in the real FiftyOne App, driven through Debian's Chromium.

Run from the checkout (``make setup`` first; Chromium from ``apt-get install chromium``)::

    .venv/bin/python docs/screenshots/app_screenshots.py

Everything runs in a temporary ALFLOW_HOME with its own mongod and Prefect server, so the
developer's ``.alflow/`` is never touched: the digits demo data is built, ``alflow app`` serves
the App with the plugin, and a person's clicks are replayed (the operator browser, the create
form, query, update). It writes ``docs/app-create-learner.png``, ``docs/app-queried-batch.png``,
``docs/app-update-form.png`` (the review counted live) and ``docs/app-after-update.png`` (what
the review did) and prints the parameters the browser sent to ``create_learner``. On the way it
adds and removes the feature field and checks that Execute is disabled meanwhile.

The script fails when the App does not do what the pictures claim: the loop the browser created
must have the configuration typed into the form (the form nests ``features``, ``estimator``,
``strategy`` and ``backend``), and the grid must show the round's batch. The reviewer's
corrections are made through FiftyOne's SDK (tagging wrong predictions with the right class, as
a person does in the App's tagging menu), so the update shows labels that changed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # the services helpers live with the tests

from tests.mongo import start_mongod, stop_mongod  # noqa: E402

DOCS = ROOT / "docs"
ALFLOW = Path(sys.executable).with_name("alflow")  # the console script of this environment
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = (  # in docs/
    "app-create-learner.png",
    "app-queried-batch.png",
    "app-update-form.png",
    "app-after-update.png",
    "app-create-blocked.png",  # the feature removed: Execute disabled, the reason beside it
)
VIEWPORT = {"width": 1400, "height": 900}
FORM_VIEWPORT = {"width": 1400, "height": 2000}  # the form from its name down to the backend
FORM = {  # what the script types into the create form, and what the ledger must then hold
    "features": {"fields": ["pixels"], "standardize": True},
    "initial_labels": {"kind": "field", "field": "seed_labels"},
    "ground_truth_field": "ground_truth",
    "estimator": {"kind": "logistic_regression"},
    "strategy": {"name": "margin"},
    "backend": {"kind": "app"},
}


@contextmanager
def private_home() -> Iterator[Path]:
    """A temporary ALFLOW_HOME with its own mongod, set before alflow or FiftyOne is imported
    (importing ``alflow`` fills in every service default from ALFLOW_HOME)."""
    with tempfile.TemporaryDirectory(prefix="alflow-shots-") as tmp:
        home = Path(tmp)
        os.environ["ALFLOW_HOME"] = str(home)
        for name in ("PREFECT_API_URL", "PREFECT_PROFILES_PATH", "FIFTYONE_DATABASE_NAME"):
            os.environ.pop(name, None)
        from alflow.services.environment import service_environment

        os.environ.update(service_environment(home))  # over any the developer set
        mongod, uri = start_mongod(home / "mongod")
        os.environ["FIFTYONE_DATABASE_URI"] = uri
        try:
            yield home
        finally:
            stop_mongod(mongod)


def build_demo(home: Path):
    """The digits dataset with one seed label per class."""
    from alflow.demo import data as demo_data

    dataset = demo_data.build_digits(directory=home / "data" / "digits")
    demo_data.seed_one_per_class(dataset)
    return dataset


@contextmanager
def services(home: Path, dataset: str) -> Iterator[str]:
    """A Prefect server, then ``alflow app`` (the App with the plugin linked in) on loopback;
    yields the dataset's page. Both run in process groups of their own and are stopped after."""
    from tests.app.app_server import answering
    from tests.e2e.services import free_port, start_prefect_server, start_service, wait_for

    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    prefect = start_prefect_server(home / "prefect-server", logs)
    try:
        url = f"http://127.0.0.1:{free_port()}"
        command = [str(ALFLOW), "app", "--dataset", dataset, "--port", url.rsplit(":", 1)[1]]
        env = {**os.environ, "PREFECT_API_URL": prefect.api_url}
        app = start_service("alflow-app", [*command, "--no-delegated"], env, logs)
        try:
            wait_for(lambda: answering(url), 300, f"{url}/fiftyone", app)
            yield f"{url}/datasets/{dataset}"
        finally:
            app.stop()
    finally:
        prefect.stop()


# ------------------------------------------------------------------------------ the browser
@contextmanager
def browser(home: Path) -> Iterator[tuple[Any, list[dict[str, Any]]]]:
    """A page in Debian's Chromium (fresh profile), and the operator requests it sends."""
    from playwright.sync_api import sync_playwright

    sent: list[dict[str, Any]] = []

    def record(request) -> None:
        if request.method == "POST" and "/operators/" in request.url:
            body = json.loads(request.post_data or "{}")
            sent.append({"route": request.url.split("/operators")[-1], **body})

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(home / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport=VIEWPORT,
        )
        try:
            page = context.new_page()
            page.on("request", record)
            yield page, sent
        finally:
            context.close()


def open_dataset(page, address: str) -> None:
    """Load the dataset's grid; dismiss the App's Enterprise teaser, which covers the grid."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(address, wait_until="load", timeout=120_000)
    page.locator('[data-cy="looker"]').first.wait_for(timeout=120_000)
    # the teaser is FiftyOne's to show or not; the shots are fine without it
    with suppress(PlaywrightTimeout):
        page.get_by_text("Dismiss", exact=True).click(timeout=15_000)


def open_operator(page, label: str):
    """The operator browser (backtick), searched for 'Active Learning'; returns the form."""
    page.keyboard.press("`")
    page.keyboard.type("Active Learning")
    page.get_by_text(label, exact=True).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Execute").wait_for()
    return dialog


def radio(dialog, value: str, nth: int = 0) -> None:
    """Pick the ``nth`` radio button with ``value`` (values repeat across groups)."""
    dialog.locator(f'input[type=radio][value="{value}"]').nth(nth).check()


def fill_create_form(page, dialog) -> None:
    """Answer the create form as a person would for the digits data (see ``FORM``).

    The form is dynamic: choosing the initial-label kind or the strategy asks the server for
    the form again, and the new fields appear only then, so each step waits for them.
    """
    from playwright.sync_api import expect

    features = dialog.get_by_placeholder("Type and press enter to add a value")
    features.click()
    page.get_by_role("option", name="pixels", exact=True).click()
    check_feature_removal(page, dialog, features)
    dialog.get_by_text("standardize", exact=True).click()
    radio(dialog, "field")
    # the label-field group appears above the ground-truth group, both offering seed_labels
    expect(dialog.locator('input[type=radio][value="seed_labels"]')).to_have_count(2)
    radio(dialog, "seed_labels", 0)
    radio(dialog, "ground_truth", 1)
    dialog.get_by_role("combobox").filter(has_text="typiclust_margin").click()
    page.get_by_role("option", name="margin", exact=True).click()
    expect(dialog.get_by_text("candidates per pick")).to_have_count(0)
    expect(dialog.get_by_role("button", name="Execute")).to_be_enabled()


def check_feature_removal(page, dialog, features) -> None:
    """Add then remove the feature: the form must block Execute and say why beside the field
    (issue 26: it used to enable Execute and fail under a 'Learner created' title); then add it
    back."""
    from playwright.sync_api import expect

    execute_button = dialog.get_by_role("button", name="Execute")
    expect(execute_button).to_be_enabled(timeout=30_000)
    features.click()
    features.press("Backspace")  # an empty autocomplete drops its last chip
    expect(dialog.get_by_text("feature fields: choose at least one")).to_be_visible(timeout=30_000)
    expect(execute_button).to_be_disabled()
    dialog.get_by_text("feature fields: choose at least one").scroll_into_view_if_needed()
    page.screenshot(path=DOCS / SHOTS[4])
    features.click()
    features.press_sequentially("pix")  # typing opens the filtered choices
    page.get_by_role("option", name="pixels", exact=True).click()
    expect(dialog.get_by_text("feature fields: choose at least one")).to_have_count(0)
    expect(execute_button).to_be_enabled(timeout=30_000)
    print("checked: removing the feature blocks Execute, adding it back allows it", flush=True)


def execute(page, dialog, title: str) -> str:
    """Press Execute and wait for the operator's output; returns its text (dialog closed)."""
    dialog.get_by_role("button", name="Execute").click()
    output = page.get_by_role("dialog").filter(has_text=title)
    output.wait_for(timeout=600_000)
    return output.inner_text()


def close(page) -> None:
    page.get_by_role("dialog").get_by_role("button", name="Close").click()
    page.get_by_role("dialog").wait_for(state="detached")


def wait_for_grid(page, count: int) -> None:
    """Until the grid says it shows ``count`` samples and its tiles have drawn."""
    page.get_by_text(f"{count} samples", exact=True).wait_for(timeout=60_000)
    page.mouse.move(10, VIEWPORT["height"] - 10)  # no tile under the pointer: no hover marks
    page.wait_for_timeout(2_000)  # the looker tiles paint after the count is known


# ------------------------------------------------------------------------------ the checks
def check_created(loop: str, form: dict[str, Any] = FORM) -> None:
    """The ledger holds the configuration the form was filled with (nested groups included)."""
    from alflow.loop.workspace import open_workspace

    config = open_workspace().ledger.loop(loop)["config"]
    wrong = {
        key: (config.get(key), want)
        for key, want in form.items()
        if _subset(want, config.get(key)) is False
    }
    if wrong:
        raise SystemExit(f"the App created {loop!r} with other settings (got, typed): {wrong}")


def _subset(want: Any, got: Any) -> bool:
    if isinstance(want, dict):
        return isinstance(got, dict) and all(_subset(v, got.get(k)) for k, v in want.items())
    return want == got


def review(dataset, loop: str, ids: list[str]) -> None:
    """Tag the batch's wrong predictions with the right class, as a reviewer in the App does."""
    from alflow.config import naming

    dataset.reload()  # the App's process added the loop's fields since this one loaded it
    batch = dataset.select(ids, ordered=True)
    field = naming.review_field(loop)
    rows = zip(ids, batch.values("ground_truth.label"), batch.values(f"{field}.label"), strict=True)
    right = []
    for sid, truth, shown in rows:
        sample = dataset[sid]
        if truth != shown:
            sample.tags.append(truth)
            sample.save()
        else:
            right.append((sample, truth))
    if right:  # one sample tagged with two classes: unresolved, shown as such in the result
        sample, truth = right[-1]
        sample.tags.extend([truth, "0" if truth != "0" else "1"])
        sample.save()


def check_view(sent: list[dict[str, Any]], dataset, ids: list[str]) -> None:
    """The App's view is the batch in query order: the browser sends its view with every
    operator request, so the update form's request shows what query_learner's set_view did."""
    from fiftyone.core.view import DatasetView

    asked = [r for r in sent if r.get("operator_uri", "").endswith("update_learner_predictions")]
    shown = DatasetView._build(dataset, asked[0]["view"]).values("id")
    if shown != ids:
        raise SystemExit(
            f"the App shows {len(shown)} samples, not the batch of {len(ids)} in order"
        )


# ------------------------------------------------------------------------------ the shots
def shoot(address: str, dataset, home: Path) -> None:
    """Create, query and update in the App, saving one PNG after each step."""
    with browser(home) as (page, sent):
        open_dataset(page, address)
        loop = create_step(page, sent)
        ids = query_step(page, dataset, loop)
        update_step(page, sent, dataset, ids)


def create_step(page, sent: list[dict[str, Any]]) -> str:
    """The filled-in create form (a tall window: the form is long), then Execute."""
    page.set_viewport_size(FORM_VIEWPORT)
    form = open_operator(page, "Active Learning: create learner")
    fill_create_form(page, form)
    page.screenshot(path=DOCS / SHOTS[0])
    print(execute(page, form, "Learner created"), flush=True)
    loop = created_loop(sent)
    check_created(loop)
    close(page)
    page.set_viewport_size(VIEWPORT)
    return loop


def query_step(page, dataset, loop: str) -> list[str]:
    """Query; the App switches to the batch; then the reviewer's corrections (SDK)."""
    form = open_operator(page, "Active Learning: query learner")
    print(execute(page, form, "Batch queried"), flush=True)
    close(page)
    ids = queried_ids(loop)
    wait_for_grid(page, len(ids))
    page.screenshot(path=DOCS / SHOTS[1])
    review(dataset, loop, ids)
    return ids


def update_step(page, sent: list[dict[str, Any]], dataset, ids: list[str]) -> None:
    """Update; the shots: the form counting the review, then the result over the batch."""
    from playwright.sync_api import expect

    # sample tags on the tiles show the reviewer's corrections; turned on only now, because
    # once the sidebar's choice is the person's, fields added later (the loop's) stay hidden
    page.locator('[data-cy="checkbox-tags"]').click()
    form = open_operator(page, "Active Learning: update learner predictions")
    check_view(sent, dataset, ids)
    form.get_by_text("review so far:").wait_for()
    expect(form.get_by_role("button", name="Execute")).to_be_enabled(timeout=60_000)
    page.screenshot(path=DOCS / SHOTS[2])
    text = execute(page, form, "Learner updated")
    print(text, flush=True)
    if "corrected" not in text:
        raise SystemExit(f"the update result does not say what the review did: {text}")
    page.wait_for_timeout(2_000)
    page.screenshot(path=DOCS / SHOTS[3])


def queried_ids(loop: str) -> list[str]:
    from alflow.loop.workspace import open_workspace

    ws = open_workspace()
    return ws.ledger.round(loop, ws.ledger.loop(loop)["last_round"])["queried_ids"]


def created_loop(sent: list[dict[str, Any]]) -> str:
    """The loop name the browser sent with its create request."""
    creates = [
        r for r in sent if r["route"] == "/execute" and r["operator_uri"].endswith("create_learner")
    ]
    print("create_learner params sent by the browser:", json.dumps(creates[-1]["params"]))
    return creates[-1]["params"]["name"]


def run_script(description: str, build, take, shots: tuple[str, ...]) -> None:
    """A screenshot script's entry point: a private home, ``build(home)``'s dataset, the
    services, then ``take(address, dataset, home)`` (or, with ``--serve``, only wait)."""
    parser = argparse.ArgumentParser(description=description.split("\n")[0])
    parser.add_argument("--serve", action="store_true", help="only start the services, and wait")
    args = parser.parse_args()
    # a plain SIGTERM would skip the clean-up below and leave mongod and the servers running
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with ExitStack() as stack:
        home = stack.enter_context(private_home())
        dataset = build(home)
        page = stack.enter_context(services(home, dataset.name))
        print(f"App: {page}  (home {home})", flush=True)
        if args.serve:
            signal.pause()
            return
        take(page, dataset, home)
    print("wrote", ", ".join(str(DOCS / n) for n in shots))


if __name__ == "__main__":
    run_script(__doc__, build_demo, shoot, SHOTS)
