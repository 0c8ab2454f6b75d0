from pathlib import Path

from alflow.services import environment


def test_service_environment_lives_under_home(tmp_path):
    env = environment.service_environment(tmp_path)
    for key in (
        "FIFTYONE_DATABASE_DIR",
        "PREFECT_HOME",
        "MPLCONFIGDIR",
        "FIFTYONE_PLUGINS_DIR",
        "FIFTYONE_MODEL_ZOO_DIR",
    ):
        assert env[key].startswith(str(tmp_path)), key
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert env["FIFTYONE_DO_NOT_TRACK"] == "true"


def test_without_alflow_home_state_lives_in_the_checkout(monkeypatch, tmp_path):
    checkout = Path(__file__).resolve().parents[2]
    monkeypatch.delenv("ALFLOW_HOME")
    monkeypatch.chdir(tmp_path)  # not the working directory, wherever a command runs from
    assert environment.state_path() == checkout / ".alflow"
    monkeypatch.setenv("ALFLOW_HOME", str(tmp_path / "home"))
    assert environment.state_path() == tmp_path / "home"
