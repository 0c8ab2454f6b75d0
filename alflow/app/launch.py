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


def stop(process: subprocess.Popen | None) -> None:
    """Stop a child we started, waiting briefly before killing it."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
