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
