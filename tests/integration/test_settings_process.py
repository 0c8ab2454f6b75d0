import os
import subprocess
import sys

from alflow.services import environment


def test_an_entry_points_import_configures_defaults_but_respects_user_settings(tmp_path):
    code = (
        "import os, alflow.services.configured; "
        "print(os.environ['PREFECT_HOME']); print(os.environ['FIFTYONE_DATABASE_DIR'])"
    )
    env = {
        k: v for k, v in os.environ.items() if k not in environment.service_environment(tmp_path)
    }
    env.update(ALFLOW_HOME=str(tmp_path / "home"), FIFTYONE_DATABASE_DIR=str(tmp_path / "mine"))
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [str(tmp_path / "home" / "prefect"), str(tmp_path / "mine")]


def test_nothing_is_written_to_the_home_directory(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in environment.service_environment(tmp_path) and k != "ALFLOW_HOME"
    }
    env.update(HOME=str(home), ALFLOW_HOME=str(tmp_path / "state"))
    code = "import alflow.services.configured, prefect, fiftyone, matplotlib.pyplot, cvat_sdk"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    assert sorted(p.name for p in home.iterdir()) == []
    assert (tmp_path / "state" / "prefect").is_dir()
