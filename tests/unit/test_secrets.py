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


# ---------------------------------------------------------------- every source of the URL
def _no_block(name: str):
    raise AssertionError(f"no Secret block should be read, asked for {name!r}")


@pytest.mark.parametrize("url", SECRET_URLS)
def test_the_environment_url_with_credentials_is_refused_in_one_line(url):
    from alflow.backends.cvat.credentials import check_url, resolve_connection
    from alflow.errors import BackendError

    environ = {"ALFLOW_CVAT_URL": url, "ALFLOW_CVAT_TOKEN": "t"}
    for call in (check_url, resolve_connection):
        with pytest.raises(BackendError) as caught:
            call(CvatBackendConfig(), environ, _no_block)
        message = str(caught.value)
        assert message.startswith("the CVAT URL in ALFLOW_CVAT_URL contains a user name or")
        assert "secret" not in message and "\n" not in message


@pytest.mark.parametrize("url", SECRET_URLS)
def test_a_block_url_with_credentials_is_refused_naming_the_block(url):
    from alflow.backends.cvat.credentials import check_url, resolve_connection
    from alflow.errors import BackendError

    config = CvatBackendConfig(credentials_block="cvat-creds")
    stored = {"url": url, "token": "t"}
    for call in (check_url, resolve_connection):
        with pytest.raises(BackendError) as caught:
            # a clean ALFLOW_CVAT_URL does not hide the block's URL, which comes first
            call(config, {"ALFLOW_CVAT_URL": "https://cvat.example.com"}, lambda _: stored)
        message = str(caught.value)
        assert "the CVAT URL in Prefect Secret block 'cvat-creds' contains" in message
        assert "secret" not in message


def test_the_url_comes_from_the_config_then_the_block_then_the_environment():
    from alflow.backends.cvat.credentials import check_url, resolve_connection

    environ = {"ALFLOW_CVAT_URL": "https://env.example.com"}
    stored = {"url": "https://block.example.com/", "token": "t"}
    with_block = CvatBackendConfig(credentials_block="b")
    assert resolve_connection(with_block, environ, lambda _: stored).url == (
        "https://block.example.com"
    )
    assert resolve_connection(with_block, environ, lambda _: {"token": "t"}).url == (
        "https://env.example.com"
    )
    configured = CvatBackendConfig(url="https://config.example.com", credentials_block="b")
    assert resolve_connection(configured, environ, lambda _: stored).url == (
        "https://config.example.com"
    )
    # the configuration's own URL is used: a poisoned environment URL is not in play
    check_url(configured, {"ALFLOW_CVAT_URL": SECRET_URLS[0]}, _no_block)
    check_url(CvatBackendConfig(), environ, _no_block)  # clean: nothing raised
