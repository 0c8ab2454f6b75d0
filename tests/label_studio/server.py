"""A real Label Studio server for the tests, on loopback and SQLite, from its own environment.

``make setup`` installs ``tools/label-studio.txt`` (label-studio 1.23.0 and its pinned Django
stack) into ``.tools/label-studio/``, apart from alflow's locked set, and runs
``python -m tests.label_studio.server template``: Label Studio's migrations on an empty SQLite
database kept as a template (about a minute, paid once per machine). A test session copies the
template into its state directory and starts ``label-studio start`` on a free loopback port with
an administrator and a legacy token created non-interactively (``--username``, ``--password``,
``--user-token``, ``--enable-legacy-api-token``); the server is then up in about 15 s.

Label Studio's telemetry is switched off (no Sentry DSN, no version check, no analytics): the
tests reach nothing but loopback.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
ENV_DIR = ROOT / ".tools" / "label-studio"
BINARY = ENV_DIR / "bin" / "label-studio"
TEMPLATE = ENV_DIR / "template" / "label_studio.sqlite3"
START_TIMEOUT = 300.0  # migrations alone take a minute on a loaded 2-core machine
QUIET = {
    "SENTRY_DSN": "",
    "FRONTEND_SENTRY_DSN": "",
    "LATEST_VERSION_CHECK": "false",
    "COLLECT_ANALYTICS": "false",
    "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",  # people join by the invite link
}


def _environment(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LABEL_STUDIO_", "LOCAL_FILES_", "DJANGO_", "ALFLOW_"))
    }
    return {**env, **QUIET, **extra}


def require_installed() -> None:
    if not BINARY.exists():
        raise RuntimeError(
            f"Label Studio is not installed in {ENV_DIR}: run 'make setup' (it installs "
            "tools/label-studio.txt there)"
        )


def make_template(target: Path = TEMPLATE) -> Path:
    """Run Label Studio's migrations on a new SQLite database at ``target``."""
    require_installed()
    work = target.parent / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    database = work / "label_studio.sqlite3"
    done = subprocess.run(
        [str(BINARY), "version", "--data-dir", str(work), "--database", str(database)],
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"Label Studio's migrations failed:\n{done.stderr[-3000:]}")
    database.replace(target)
    shutil.rmtree(work, ignore_errors=True)
    return target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LabelStudioServer:
    """One running server: its URL, the administrator's tokens, and how to stop it."""

    home: Path
    media_root: Path
    username: str = "alflow-admin@example.com"
    password: str = field(default_factory=lambda: "pw-" + secrets.token_hex(8), repr=False)
    legacy_token: str = field(default_factory=lambda: secrets.token_hex(20), repr=False)
    pat: str = field(default="", repr=False)
    port: int = 0
    process: subprocess.Popen | None = None
    started_in: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.home / "label-studio.log"

    def start(self) -> LabelStudioServer:
        require_installed()
        began = time.monotonic()
        self.home.mkdir(parents=True, exist_ok=True)
        database = self.home / "label_studio.sqlite3"
        if TEMPLATE.exists() and not database.exists():
            shutil.copy(TEMPLATE, database)  # migrated at set-up: saves a minute per session
        self.port = free_port()
        command = [
            str(BINARY), "start", "--no-browser",
            "--data-dir", str(self.home), "--database", str(database),
            "--username", self.username, "--password", self.password,
            "--user-token", self.legacy_token, "--enable-legacy-api-token",
            "--internal-host", "127.0.0.1", "--port", str(self.port), "--log-level", "WARNING",
        ]  # fmt: skip
        env = _environment(
            LOCAL_FILES_SERVING_ENABLED="true", LOCAL_FILES_DOCUMENT_ROOT=str(self.media_root)
        )
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait_until_up()
        self.pat = self._create_pat()
        self.started_in = time.monotonic() - began
        return self

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Label Studio exited at start; see {self.log_path}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"Label Studio did not answer in {START_TIMEOUT:.0f} s; see the log")

    def admin(self) -> httpx.Client:
        """An HTTP client with the administrator's legacy token (for set-up and assertions)."""
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Token {self.legacy_token}"}, timeout=30
        )

    def _create_pat(self) -> str:
        with self.admin() as http:
            response = http.post("/api/token/")
            response.raise_for_status()
            return response.json()["token"]

    def invite_token(self) -> str:
        """The organization's invite token (what the invite link carries)."""
        with self.admin() as http:
            org = http.get("/api/current-user/whoami").json()["active_organization"]
            return http.get(f"/api/organizations/{org}").json()["token"]

    def set_legacy_tokens(self, enabled: bool) -> None:
        """Switch legacy tokens on or off, as Organization > API Tokens settings does."""
        with httpx.Client(base_url=self.url, timeout=30) as http:
            access = http.post("/api/token/refresh/", json={"refresh": self.pat}).json()["access"]
            response = http.post(
                "/api/jwt/settings",
                headers={"Authorization": f"Bearer {access}"},
                json={
                    "api_tokens_enabled": True,
                    "legacy_api_tokens_enabled": enabled,
                    "api_token_ttl_days": 36500,
                },
            )
            response.raise_for_status()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=20)


if __name__ == "__main__":
    if sys.argv[1:] != ["template"]:
        sys.exit("usage: python -m tests.label_studio.server template")
    began = time.monotonic()
    print(f"migrated {make_template()} in {time.monotonic() - began:.0f} s")
