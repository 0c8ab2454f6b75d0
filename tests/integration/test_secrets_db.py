"""A CVAT URL with credentials is refused by the configuration model, before anything is stored."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from alflow.cli import app
from alflow.errors import ConfigError
from tests.helpers import SECRET_URLS, cvat_config, unique_name


def test_loop_create_refuses_before_anything_is_written(digits, tmp_path):
    from alflow.config import naming
    from alflow.loop.workspace import open_workspace

    name = unique_name("secret")
    path = tmp_path / "loop.json"
    path.write_text(json.dumps(cvat_config(SECRET_URLS[0], name)))
    result = CliRunner().invoke(app, ["loop", "create", str(path)])
    assert isinstance(result.exception, ConfigError)
    assert not open_workspace().ledger.loop_exists(name)
    digits.reload()
    assert not set(naming.loop_fields(name)) & set(digits.get_field_schema())
