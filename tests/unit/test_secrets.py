"""A CVAT URL with credentials is refused by the configuration model, before anything is stored."""

from __future__ import annotations

import pytest

from alflow.config.backends import CvatBackendConfig
from alflow.config.loop import parse_loop_config
from alflow.errors import ConfigError
from tests.helpers import SECRET_URLS, cvat_config


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
