"""Where CVAT is and how to log in: the URL and credentials, from the config and environment.

URL from the config or ``ALFLOW_CVAT_URL``; credentials from a Prefect Secret block
(``credentials_block`` or ``ALFLOW_CVAT_SECRET_BLOCK``), else ``ALFLOW_CVAT_TOKEN``, else
``ALFLOW_CVAT_USERNAME``/``ALFLOW_CVAT_PASSWORD``. They never reach logs, errors or references.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from alflow.backends.secrets import load_prefect_secret, secret_value
from alflow.config.backends import CvatBackendConfig
from alflow.errors import BackendError

ENV_URL = "ALFLOW_CVAT_URL"
ENV_USERNAME = "ALFLOW_CVAT_USERNAME"
ENV_PASSWORD = "ALFLOW_CVAT_PASSWORD"
ENV_TOKEN = "ALFLOW_CVAT_TOKEN"
ENV_SECRET_BLOCK = "ALFLOW_CVAT_SECRET_BLOCK"


@dataclass(frozen=True)
class Connection:
    """Where CVAT is and how to log in; ``repr`` and messages never show the secrets."""

    url: str
    source: str  # where the credentials came from, for messages ("ALFLOW_CVAT_TOKEN", ...)
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)


def clean_url(url: str) -> str:
    """The server URL as cvat-sdk normalizes it (``https://`` when no scheme, no trailing '/').

    Raises:
        BackendError: the URL carries credentials, or a scheme other than http/https.
    """
    url = url.strip()
    if not url:
        raise BackendError(f"the CVAT URL is empty: set backend.url or {ENV_URL}")
    if "://" not in url:
        url = "https://" + url
    parts = urlsplit(url)
    if parts.username or parts.password:
        # the URL is logged and stored in references, so it must not carry secrets
        raise BackendError(
            f"the CVAT URL contains a user name or password: remove them from the URL and set "
            f"{ENV_USERNAME}/{ENV_PASSWORD} or {ENV_TOKEN} instead"
        )
    if parts.scheme not in ("http", "https"):
        raise BackendError(
            f"the CVAT URL {url!r} has scheme {parts.scheme!r}: use 'https://' or 'http://'"
        )
    return url.rstrip("/")


def parse_secret(value: Any, block: str) -> dict[str, str]:
    """Credentials from a Prefect Secret value: a dict, its JSON text, or a bare access token."""
    value = secret_value(
        value, block, "{'username': ..., 'password': ...}, {'token': ...} or a bare token"
    )
    if isinstance(value, str) and value.strip():
        return {"token": value.strip()}
    if isinstance(value, Mapping):
        if value.get("token"):
            return {"token": str(value["token"])}
        if value.get("username") and value.get("password"):
            return {"username": str(value["username"]), "password": str(value["password"])}
    raise BackendError(
        f"Prefect Secret block {block!r} holds no CVAT credentials: store "
        "{'username': ..., 'password': ...}, {'token': ...} or a bare access token"
    )


def resolve_connection(
    config: CvatBackendConfig,
    environ: Mapping[str, str],
    load_secret: Callable[[str], Any] = load_prefect_secret,
) -> Connection:
    """Find the URL and credentials: Secret block, else token, else username and password.

    Raises:
        BackendError: no URL, no credentials, half a username/password pair, or the Secret
            block cannot be loaded.
    """
    raw_url = config.url or environ.get(ENV_URL)
    if not raw_url:
        raise BackendError(f"no CVAT URL: set backend.url in the loop configuration or {ENV_URL}")
    url = clean_url(raw_url)
    block = config.credentials_block or environ.get(ENV_SECRET_BLOCK)
    if block:
        try:
            value = load_secret(block)
        except Exception as exc:  # whatever Prefect raises, the fix is the same
            raise BackendError(
                f"cannot load the Prefect Secret block {block!r} with the CVAT credentials "
                f"({type(exc).__name__}: {exc}): create it, or unset backend.credentials_block "
                f"and {ENV_SECRET_BLOCK} to use the {ENV_TOKEN} or {ENV_USERNAME} variables"
            ) from exc
        return Connection(url, f"Prefect Secret block {block!r}", **parse_secret(value, block))
    if environ.get(ENV_TOKEN):
        return Connection(url, ENV_TOKEN, token=environ[ENV_TOKEN])
    username, password = environ.get(ENV_USERNAME), environ.get(ENV_PASSWORD)
    if username and password:
        return Connection(url, f"{ENV_USERNAME}/{ENV_PASSWORD}", username, password)
    if username or password:
        missing = ENV_PASSWORD if username else ENV_USERNAME
        raise BackendError(f"{missing} is not set: CVAT needs both a user name and a password")
    raise BackendError(
        f"no CVAT credentials: set {ENV_TOKEN}, or {ENV_USERNAME} and {ENV_PASSWORD}, or name a "
        f"Prefect Secret block in backend.credentials_block or {ENV_SECRET_BLOCK}"
    )
