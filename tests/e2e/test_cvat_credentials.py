"""The credential rule on every source of the CVAT URL: a user name or password in
``ALFLOW_CVAT_URL`` or in a Prefect Secret block's ``url`` is refused at loop creation, at a
change of the loop's configuration and before a step opens a round (none is left ``queried``),
with one line that names the source and never the password. Loops talk to the CVAT stand-in.
"""

from __future__ import annotations

import os
import secrets

import pytest
from prefect.blocks.system import Secret
from prefect.settings import PREFECT_API_URL

from alflow import rounds
from alflow.backends import cvat
from alflow.errors import BackendError, LedgerError
from alflow.loop.workspace import open_workspace
from flows.loop import create_loop_flow, step_flow
from tests.helpers import CVAT_FAST, loop_config, run_cli, unique_name

pytestmark = pytest.mark.usefixtures("prefect_server")

PASSWORD = "hunter2-" + secrets.token_hex(4)


def with_password(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://admin:{PASSWORD}@{rest}"


@pytest.fixture(params=["environment", "block"])
def url_source(request, cvat_server, cvat_env, monkeypatch):
    """Where the loop's CVAT URL comes from (its configuration has none); ``poison()`` puts a
    password into that source. Returns (backend overrides, poison, the source as messages
    name it)."""
    if request.param == "environment":
        monkeypatch.setenv(cvat.ENV_URL, cvat_server.url)

        def poison() -> None:
            monkeypatch.setenv(cvat.ENV_URL, with_password(cvat_server.url))

        return {"url": None}, poison, cvat.ENV_URL
    block = f"cvat-creds-{secrets.token_hex(3)}"
    login = {"username": cvat_server.username, "password": cvat_server.password}
    Secret(value={"url": cvat_server.url, **login}).save(block, overwrite=True)

    def poison() -> None:
        Secret(value={"url": with_password(cvat_server.url), **login}).save(block, overwrite=True)

    return {"url": None, "credentials_block": block}, poison, f"Prefect Secret block {block!r}"


def assert_refusal(message: str, source: str) -> None:
    assert f"the CVAT URL in {source} contains a user name or password" in message
    assert "ALFLOW_CVAT_TOKEN" in message  # the fix
    assert PASSWORD not in message and "\n" not in message


def test_a_password_in_the_url_source_is_refused_at_loop_create(digits, url_source):
    backend, poison, source = url_source
    config = loop_config(
        unique_name(f"cvat-{secrets.token_hex(3)}"),
        backend={"kind": "cvat", **CVAT_FAST, **backend},
    )
    poison()
    with pytest.raises(BackendError) as caught:
        create_loop_flow(config)
    assert_refusal(str(caught.value), source)
    with pytest.raises(LedgerError):  # nothing stored
        open_workspace().ledger.loop(config.name)


def test_a_password_in_the_url_source_is_refused_before_a_round_is_opened(cvat_loop, url_source):
    backend, poison, source = url_source
    loop = cvat_loop(**backend).name  # a clean URL: the loop is created
    ws = open_workspace()
    last_round = ws.ledger.loop(loop)["last_round"]
    poison()
    with pytest.raises(BackendError) as caught:
        step_flow(loop)
    assert_refusal(str(caught.value), source)
    assert [d["round"] for d in ws.ledger.rounds(loop)] == [0]  # no round left 'queried'
    assert ws.ledger.loop(loop)["last_round"] == last_round  # no number allocated either


def test_a_password_in_the_url_source_is_refused_at_a_config_change(cvat_loop, url_source):
    backend, poison, source = url_source
    loop = cvat_loop(**backend).name
    ws = open_workspace()
    before = ws.ledger.loop(loop)["config"]
    poison()
    with pytest.raises(BackendError) as caught:
        rounds.update_stop_rules(ws, loop, max_rounds=7)
    assert_refusal(str(caught.value), source)
    assert ws.ledger.loop(loop)["config"] == before

    # as a user meets it: one line on stderr
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}  # the session's server
    out = run_cli("loop", "stop-rules", loop, "--max-rounds", "7", env=env, timeout=300)
    assert out.returncode == 2, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("alflow: error: the CVAT URL in")
    assert_refusal(lines[0], source)
    assert ws.ledger.loop(loop)["config"] == before


def test_a_clean_url_from_the_source_runs_a_round(cvat_loop, url_source, cvat_server):
    backend, _, _ = url_source
    loop = cvat_loop(**backend).name
    summary = step_flow(loop)
    assert (summary["round"], summary["state"]) == (1, "waiting")
    ref = open_workspace().ledger.round(loop, 1)["backend"]["ref"]
    assert ref["url"] == cvat_server.url
