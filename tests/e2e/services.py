"""Real services for end-to-end tests: a Prefect server, its workers and the `prefect` CLI.

Every process starts in its own process group, with the session's environment (ALFLOW_HOME,
the session's mongod in FIFTYONE_DATABASE_URI, Prefect home) plus the server's API URL, and the
fixture that started it kills the whole group, so no server or worker outlives its test.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[2]
PREFECT = [sys.executable, "-m", "prefect"]


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Service:
    """A long-running subprocess (server or worker) with its output in a log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def output(self, limit: int = 4000) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text[-limit:]

    def kill(self) -> None:
        """SIGKILL the process group at once, as a crash or an OOM kill would."""
        descendants = self._descendants()
        self._signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self._reap(descendants)

    def stop(self) -> None:
        """SIGTERM the process group; SIGKILL what is left after 15 s.

        Flow-run processes a worker started run in sessions of their own, so they are found
        before the worker goes and killed after it if they outlived it.
        """
        if not self.alive():
            return
        descendants = self._descendants()
        self._signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.process.wait(timeout=30)
        self._reap(descendants)

    def _descendants(self) -> list[psutil.Process]:
        with suppress(psutil.NoSuchProcess):
            return psutil.Process(self.process.pid).children(recursive=True)
        return []

    @staticmethod
    def _reap(processes: list[psutil.Process]) -> None:
        for process in processes:
            with suppress(psutil.NoSuchProcess):
                process.kill()
        psutil.wait_procs(processes, timeout=10)

    def _signal(self, sig: int) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)


def start_service(name: str, args: list[str], env: dict[str, str], logs: Path) -> Service:
    """Start ``args`` in the repository root, in a new process group, logging to ``logs``."""
    log = logs / f"{name}.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Service(name, process, log)


def wait_for(check: Callable[[], bool], timeout: float, what: str, service: Service) -> None:
    """Poll ``check`` until it holds; fail with the service's output if it dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if not service.alive():
            raise RuntimeError(f"{service.name} exited before {what}:\n{service.output()}")
        time.sleep(0.25)
    raise TimeoutError(f"{what} not within {timeout:.0f} s; {service.name}:\n{service.output()}")


def healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


def prefect_cli(args: list[str], env: dict[str, str], timeout: float = 180):
    """Run ``prefect <args>`` from the repository root; returns the completed process."""
    return subprocess.run(
        [*PREFECT, *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass
class PrefectServer:
    """A `prefect server start` on loopback with its own SQLite database."""

    api_url: str
    env: dict[str, str]
    service: Service
    logs: Path
    workers: list[Service] = field(default_factory=list)

    def cli(self, *args: str, timeout: float = 180, env: dict[str, str] | None = None):
        return prefect_cli(list(args), env or self.env, timeout)

    def start_worker(self, name: str, env: dict[str, str] | None = None) -> Service:
        """`prefect worker start --pool alflow-process`; waits until it polls the pool."""
        worker = start_service(
            name,
            [*PREFECT, "worker", "start", "--pool", "alflow-process", "--name", name],
            env or self.env,
            self.logs,
        )
        self.workers.append(worker)
        wait_for(lambda: self.worker_online(name), 90, f"worker {name} online", worker)
        return worker

    def worker_online(self, name: str) -> bool:
        with self.client() as client:
            workers = client.read_workers_for_work_pool("alflow-process")
        return any(w.name == name for w in workers)

    @contextmanager
    def client(self) -> Iterator[Any]:
        """A synchronous Prefect client of this server (whatever server the session uses)."""
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with (
            temporary_settings(updates={PREFECT_API_URL: self.api_url}),
            get_client(sync_client=True) as client,
        ):
            yield client

    def run_deployment(self, name: str, parameters: dict[str, Any]) -> Any:
        """Run a deployment on a worker (in-process ``run_deployment``); the finished run."""
        from prefect.deployments import run_deployment
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: self.api_url}):
            run = run_deployment(name, parameters=parameters, timeout=240, poll_interval=1)
        if not run.state.is_completed():
            raise AssertionError(f"{name}: {run.state!r}\n{self.failed_run_logs()}")
        return run

    def failed_run_logs(self) -> str:
        """The error logs of every failed flow run, to explain a failed `--watch`."""
        from prefect.client.schemas.filters import (
            FlowRunFilter,
            FlowRunFilterState,
            FlowRunFilterStateType,
            LogFilter,
            LogFilterFlowRunId,
            LogFilterLevel,
        )
        from prefect.client.schemas.objects import StateType

        with self.client() as client:
            failed = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.FAILED, StateType.CRASHED])
                    )
                )
            )
            logs = (
                client.read_logs(
                    log_filter=LogFilter(
                        flow_run_id=LogFilterFlowRunId(any_=[r.id for r in failed]),
                        level=LogFilterLevel(ge_=40),
                    )
                )
                if failed
                else []
            )
        return (
            "\n".join(f"{r.name}: {r.state.message}" for r in failed)
            + "\n"
            + "\n".join(log.message for log in logs)
        )

    def stop_workers(self) -> None:
        while self.workers:
            self.workers.pop().stop()

    def stop(self) -> None:
        self.stop_workers()
        self.service.stop()


def start_prefect_server(home: Path, logs: Path) -> PrefectServer:
    """Start a Prefect server on a free loopback port, its database under ``home``."""
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        # workers ask for work every second instead of every 10 s
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_HEARTBEAT_SECONDS": "5",
        # the advance deployment's cron must not fire mid-test and step other tests' loops;
        # its schedule is still stored and asserted
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "INFO",
        "PREFECT_UI_ENABLED": "false",  # starts faster; the tests read the API only
    }
    service = start_service(
        "prefect-server",
        [*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env,
        logs,
    )
    server = PrefectServer(api_url, env, service, logs)
    try:
        wait_for(lambda: healthy(api_url), 120, f"{api_url}/health", service)
    except BaseException:
        server.stop()
        raise
    return server
