"""A CVAT URL with credentials is refused by the configuration model, before anything is stored."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from alflow.cli import app
from alflow.config import CvatBackendConfig, parse_loop_config
from alflow.errors import ConfigError
from tests.helpers import loop_config, unique_name

SECRET_URLS = [
    "http://user:secret@cvat.example.com",
    "https://token-secret@cvat.example.com:8080/api",
    "user:secret@cvat.example.com",
]


def cvat_config(url: str, name: str | None = None) -> dict:
    data = loop_config(name).model_dump(mode="json")
    data["backend"] = {"kind": "cvat", "url": url}
    return data


@pytest.mark.parametrize("url", SECRET_URLS)
def test_the_model_refuses_credentials_and_does_not_repeat_them(url):
    with pytest.raises(ConfigError, match="user name or password") as caught:
        parse_loop_config(cvat_config(url))
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize(
    "url", ["https://cvat.example.com", "cvat.example.com:8080", "http://h/a@b", "http://h/?q=a@b"]
)
def test_urls_without_credentials_are_kept(url):
    assert CvatBackendConfig(url=url).url == url


def test_the_parameter_schema_refuses_them_too():
    """Prefect enforces the flow's parameter schema before it stores a run's parameters."""
    from prefect.utilities.schema_tools.validation import is_valid

    from flows.loop import create_loop_flow

    schema = create_loop_flow.parameters.model_dump()
    assert not is_valid({"config": cvat_config(SECRET_URLS[0])}, schema)
    assert is_valid({"config": cvat_config("https://cvat.example.com")}, schema)


def test_loop_create_refuses_before_anything_is_written(digits, tmp_path):
    from alflow import naming
    from alflow.workspace import open_workspace

    name = unique_name("secret")
    path = tmp_path / "loop.json"
    path.write_text(json.dumps(cvat_config(SECRET_URLS[0], name)))
    result = CliRunner().invoke(app, ["loop", "create", str(path)])
    assert isinstance(result.exception, ConfigError)
    assert not open_workspace().ledger.loop_exists(name)
    digits.reload()
    assert not set(naming.loop_fields(name)) & set(digits.get_field_schema())
