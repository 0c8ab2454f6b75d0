"""The pieces of alflow's managed Prefect server that need no server: ports, records, liveness.

The server itself (a slow start, reuse, a shared start, a killed server, stop) is exercised
end to end in tests/e2e/test_managed_server.py.
"""

from __future__ import annotations

import subprocess
import sys

from alflow.services import prefect_server


def test_a_pid_that_is_not_a_prefect_server_is_not_alive():
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert not prefect_server.alive(other.pid)  # a reused pid is not our server
    finally:
        other.kill()
        other.wait()
    assert not prefect_server.alive(other.pid)
