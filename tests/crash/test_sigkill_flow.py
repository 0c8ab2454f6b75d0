"""SIGKILL of a real step flow run after ingest, then the next step: nothing lost or stuck."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from alflow.loop.workspace import open_workspace
from flows.loop import create_loop_flow, step_flow
from tests.crash.harness import snapshot
from tests.helpers import loop_config, unique_name

pytestmark = pytest.mark.usefixtures("prefect_server")

KILLED_AFTER_INGEST = """
import os, signal, sys
import alflow
from alflow.state.ledger import INGESTED, Ledger

original = Ledger.set_state

def set_state(self, loop, number, new, **fields):
    original(self, loop, number, new, **fields)
    if new == INGESTED:
        os.kill(os.getpid(), signal.SIGKILL)

Ledger.set_state = set_state
from flows.loop import step_flow
step_flow(sys.argv[1])
"""


def test_a_killed_step_run_is_resumed_by_the_next_step_like_an_uninterrupted_loop(digits):
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL

    reference, killed = (loop_config(unique_name(p)) for p in ("sigref", "sigkill"))
    for config in (reference, killed):
        create_loop_flow(config)
    step_flow(reference.name)
    step_flow(reference.name)

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    process = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_INGEST, killed.name], env=env, timeout=600
    )
    assert process.returncode == -signal.SIGKILL
    ledger = open_workspace().ledger
    lock = ledger.loop(killed.name)["lock"]
    assert lock and lock["pid"] != os.getpid()  # the dead run still holds the loop
    assert ledger.round(killed.name, 1)["state"] == "ingested"

    step_flow(killed.name)  # takes the dead run's lock over at once, teaches, runs round 2
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(lock["owner"]).state.type.value == "CRASHED"
    assert snapshot(killed.name) == snapshot(reference.name)
