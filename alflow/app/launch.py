"""Opening the FiftyOne App with alflow's plugin, and the executor for delegated operations.

``alflow app`` links the plugin into the plugins directory FiftyOne reads (``alflow``'s own
under ``ALFLOW_HOME`` by default), so nothing else needs installing, and runs FiftyOne's
delegated-operations executor for as long as the App runs: long fits chosen to "run in the
background" are queued by the App and executed there, with progress in the App's runs list.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from alflow.errors import AlflowError

PLUGIN_NAME = "alflow"


def plugin_source() -> Path:
    """The plugin folder: the checkout's ``plugins/alflow``, else the copy in the package."""
    root = Path(__file__).resolve().parents[2]
    for candidate in (root / "plugins" / PLUGIN_NAME, Path(__file__).parent / "plugin"):
        if (candidate / "fiftyone.yml").exists():
            return candidate
    raise AlflowError(
        "alflow's FiftyOne plugin is missing from this installation: reinstall alflow, or "
        "download it with 'fiftyone plugins download <alflow repository URL> --plugin-names "
        "@alflow/active-learning'"
    )


def install_plugin(plugins_dir: Path) -> Path:
    """Link the plugin into ``plugins_dir``; a different plugin already there is an error."""
    plugins_dir.mkdir(parents=True, exist_ok=True)
    link = plugins_dir / PLUGIN_NAME
    source = plugin_source()
    if link.is_symlink() and link.resolve() != source.resolve():
        link.unlink()
    if not link.exists():
        link.symlink_to(source, target_is_directory=True)
    elif link.resolve() != source.resolve():
        raise AlflowError(
            f"{link} holds another copy of the alflow plugin: remove it (alflow links its own) "
            "or point FIFTYONE_PLUGINS_DIR elsewhere"
        )
    return link


def app_environment() -> dict[str, str]:
    """What FiftyOne needs to run delegated operations in open source."""
    return {"FIFTYONE_ALLOW_LEGACY_ORCHESTRATORS": "true"}


def start_executor(log: Path) -> subprocess.Popen:
    """FiftyOne's delegated-operations executor, in its own process group."""
    fiftyone = Path(sys.executable).with_name("fiftyone")
    command = (
        [str(fiftyone), "delegated", "launch"]
        if fiftyone.exists()
        else [sys.executable, "-m", "fiftyone.core.cli", "delegated", "launch"]
    )
    log.parent.mkdir(parents=True, exist_ok=True)
    handle = log.open("ab")
    return subprocess.Popen(
        command,
        stdout=handle,
        stderr=subprocess.STDOUT,
        env=os.environ.copy(),
        start_new_session=True,
    )


def stop(*processes: subprocess.Popen | None) -> None:
    """Stop children we started in their own process groups (and their children): SIGTERM to
    all at once, then SIGKILL to those still running after 15 s, so Ctrl-C ends the App within
    about 30 s however many children it has."""
    import contextlib
    import signal
    import time

    for sig in (signal.SIGTERM, signal.SIGKILL):
        running = [p for p in processes if p is not None and p.poll() is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):  # gone meanwhile
                os.killpg(process.pid, sig)
        deadline = time.monotonic() + 15
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                continue


def start_server(port: int, address: str, log: Path) -> subprocess.Popen:
    """The FiftyOne App's own server (``fiftyone/server/main.py``), in its own process group.

    Started directly rather than through ``fo.launch_app``: FiftyOne gives its server 60 s to
    bind, which a busy machine exceeds, and a session returns once the last tab closes.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "fiftyone.server.main", "--port", str(port)]
    return subprocess.Popen(
        [*command, "--address", address],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env=os.environ.copy(),
        start_new_session=True,
    )


def wait_for_server(process: subprocess.Popen, url: str, log: Path, timeout: float) -> None:
    """Wait until the App answers at ``url``; a dead or silent server is an error."""
    import time
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-1500:]
            raise AlflowError(f"the FiftyOne App server exited with {process.returncode}: {tail}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    raise AlflowError(
        f"the FiftyOne App server did not answer on {url} within {timeout:.0f} s (log: {log}); "
        "is the port taken? choose another with --port"
    )


def open_app(
    dataset_name: str | None,
    port: int,
    address: str,
    delegated: bool = True,
    timeout: float = 600.0,
) -> None:
    """Serve the App with the plugin (and, if asked, the executor) until interrupted."""
    from alflow.app.runs import OWN_API_ENV
    from alflow.data import store
    from alflow.services import fiftyone_database, prefect_server
    from alflow.services.environment import state_dir

    os.environ.update(app_environment())
    install_plugin(Path(os.environ["FIFTYONE_PLUGINS_DIR"]))
    users_api = os.environ.get("PREFECT_API_URL")
    prefect_server.connect()  # the App's flows use the CLI's Prefect server (inherited env)
    if not users_api:  # alflow's own server: the App's results need not say where they ran
        os.environ[OWN_API_ENV] = os.environ.get("PREFECT_API_URL", "")
    # and its database: the App's server and executor inherit the URI of alflow's (they would
    # otherwise start FiftyOne's own service on the directory that alflow's mongod holds)
    fiftyone_database.connect()
    if dataset_name:
        store.open_dataset(dataset_name)  # an unknown dataset is an error before anything starts
    logs = state_dir() / "logs"
    server = start_server(port, address, logs / "app-server.log")
    executor = start_executor(logs / "delegated.log") if delegated else None
    try:
        url = f"http://{address}:{port}"
        wait_for_server(server, url, logs / "app-server.log", timeout)
        page = f"{url}/datasets/{quote(dataset_name)}" if dataset_name else url
        print(f"FiftyOne App on {page} (alflow plugin loaded) - Ctrl-C to stop", flush=True)
        prefect_server.wait_for_signal(server)  # SIGINT or SIGTERM: the finally stops both
    finally:
        stop(executor, server)
