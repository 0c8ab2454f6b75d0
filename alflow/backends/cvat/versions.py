"""The note that a CVAT server runs a version cvat-sdk is not made for: shown once per server,
server version and cvat-sdk version, remembered under the state directory (``ALFLOW_HOME``).

Every command opens its own cvat-sdk client, so a note kept in memory came back with every
command; the file keeps the notes already shown, and ``alflow env`` lists them (as shell
comments, so ``eval "$(alflow env)"`` still works).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from alflow.services.environment import state_dir
from alflow.services.file_locks import held

NOTES_FILE = "cvat-server-versions.json"


def notes_path() -> Path:
    return state_dir() / NOTES_FILE


def noted() -> list[dict[str, Any]]:
    """The mismatches noted so far, oldest first (an unreadable file reads as none)."""
    try:
        records = json.loads(notes_path().read_text())
    except (OSError, ValueError):
        return []
    return [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []


def note(url: str, server: str, sdk: str, supported: list[str]) -> bool:
    """Remember that CVAT at ``url`` runs ``server`` under cvat-sdk ``sdk``; True the first
    time (the caller shows the note then), False when it was noted before."""
    path = notes_path()
    with held(path.with_suffix(".lock")):
        records = noted()
        seen = {(r.get("url"), r.get("server"), r.get("sdk")) for r in records}
        if (url, server, sdk) in seen:
            return False
        records.append(
            {"url": url, "server": server, "sdk": sdk, "supported": supported, "at": time.time()}
        )
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(records, indent=1))
        tmp.replace(path)
    return True


def describe(record: dict[str, Any]) -> str:
    """The note as one line."""
    supported = " and ".join(record.get("supported") or []) or "other versions"
    return (
        f"CVAT at {record['url']} runs version {record['server']}; cvat-sdk {record['sdk']} is "
        f"made for {supported}. alflow goes on: the calls it makes are the same in both"
    )
