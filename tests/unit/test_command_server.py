"""What decides whether a command goes to a warm child, and which server may take it."""

from __future__ import annotations

import pytest

from alflow.cli import warm
from alflow.services import command_servers

ENV = {"ALFLOW_HOME": "/somewhere", "PATH": "/usr/bin", "TERM": "xterm", "COLUMNS": "80"}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["step", "demo"], True),
        (["step", "demo", "--batch-size", "5"], True),
        (["loop", "create", "loop.json"], True),
        (["rollback", "demo", "2"], True),
        (["status", "demo"], False),  # reads the ledger: fast on its own
        (["loop", "list"], False),
        (["server", "--stop"], False),
        (["step", "demo", "--verbose"], False),  # Prefect's log set-up differs
        (["-v", "step", "demo"], False),
        (["step", "--help"], False),
        ([], False),
    ],
)
def test_only_flow_commands_go_to_a_warm_child(argv, expected):
    assert warm.wanted(argv) is expected


def test_the_key_ignores_the_terminal_but_not_the_environment():
    key = command_servers.key(ENV)
    assert command_servers.key({**ENV, "COLUMNS": "200", "OLDPWD": "/tmp", "SHLVL": "3"}) == key
    assert command_servers.key({**ENV, "FIFTYONE_DATABASE_URI": "mongodb://x"}) != key
    assert command_servers.key({**ENV, "PATH": "/bin"}) != key


def test_an_edited_module_changes_the_code_part_of_the_key_only(tmp_path, monkeypatch):
    module = tmp_path / "alflow" / "m.py"
    module.parent.mkdir()
    module.write_text("x = 1\n")
    monkeypatch.setattr(command_servers, "_code_files", lambda: [module])
    before = command_servers.key(ENV)
    module.write_text("x = 22\n")
    after = command_servers.key(ENV)
    env_part = command_servers.ENV_KEY_LENGTH
    assert after != before and after[:env_part] == before[:env_part]


def test_a_mistyped_mode_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("ALFLOW_COMMAND_SERVER", "yes")
    with pytest.raises(command_servers.CommandServerError, match="ALFLOW_COMMAND_SERVER='yes'"):
        command_servers.mode()


def _write(directory, key: str, started: float, children: int) -> None:
    import json

    record = {"pid": 1, "key": key, "started": started, "children": children}
    (directory / f"{key}.json").write_text(json.dumps(record))


def test_a_starting_server_replaces_idle_ones_and_busy_ones_leave_when_idle(monkeypatch):
    """One server per state directory: the records say which are idle (no running command)."""
    monkeypatch.setattr(command_servers, "alive", lambda pid, started=None: True)
    directory = command_servers.directory()
    for path in directory.glob("*.json"):
        path.unlink()
    _write(directory, "old-idle", started=100.0, children=0)
    _write(directory, "old-busy", started=200.0, children=2)
    _write(directory, "new", started=300.0, children=0)
    try:
        assert [r["key"] for r in command_servers.replaced("new")] == ["old-idle"]
        by_key = {r["key"]: r for r in command_servers.running()}
        assert command_servers.superseded(by_key["old-busy"])  # leaves once its commands end
        assert command_servers.superseded(by_key["old-idle"])
        assert not command_servers.superseded(by_key["new"])  # the newest stays
    finally:
        for path in directory.glob("*.json"):
            path.unlink()
