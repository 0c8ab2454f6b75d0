"""Where CVAT is and how to log in: the URL and credentials, from the config and environment.

URL from the config, else the ``url`` of the Secret block, else ``ALFLOW_CVAT_URL``; credentials
from a Prefect Secret block (``credentials_block`` or ``ALFLOW_CVAT_SECRET_BLOCK``), else
``ALFLOW_CVAT_TOKEN``, else ``ALFLOW_CVAT_USERNAME``/``ALFLOW_CVAT_PASSWORD``. They never reach
logs, errors or references. A URL with a user name or password in it is refused from every
source with one line (:func:`check_url`, called before a loop is stored, changed or steps).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from alflow.backends.secrets import load_prefect_secret, secret_value
from alflow.config.backends import CvatBackendConfig, cvat_url_refusal, url_has_credentials
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


def clean_url(url: str, where: str = "the reference") -> str:
    """The server URL as cvat-sdk normalizes it (``https://`` when no scheme, no trailing '/');
    ``where`` names the URL's source in messages.

    Raises:
        BackendError: the URL carries credentials, or a scheme other than http/https.
    """
    url = url.strip()
    if not url:
        raise BackendError(f"the CVAT URL is empty: set backend.url or {ENV_URL}")
    if url_has_credentials(url):
        # the URL is logged and stored in references, so it must not carry secrets
        raise BackendError(cvat_url_refusal(where))
    if "://" not in url:
        url = "https://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise BackendError(
            f"the CVAT URL {url!r} has scheme {parts.scheme!r}: use 'https://' or 'http://'"
        )
    return url.rstrip("/")


def block_url(value: Any, block: str) -> str | None:
    """The ``url`` a Prefect Secret value holds beside the credentials, if any."""
    value = secret_value(value, block, _SECRET_FORMS)
    if isinstance(value, Mapping) and value.get("url"):
        return str(value["url"])
    return None


_SECRET_FORMS = "{'username': ..., 'password': ...}, {'token': ...} or a bare token"


def parse_secret(value: Any, block: str) -> dict[str, str]:
    """Credentials from a Prefect Secret value: a dict (with an optional ``url``, read by
    :func:`block_url`), its JSON text, or a bare access token."""
    value = secret_value(value, block, _SECRET_FORMS)
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


def check_url(
    config: CvatBackendConfig,
    environ: Mapping[str, str],
    load_secret: Callable[[str], Any] = load_prefect_secret,
) -> None:
    """Refuse the URL the backend would use if it carries a user name or password, whichever
    source it comes from (backend.url is refused by the configuration's own validator).

    Raises:
        BackendError: the URL from the Secret block or ALFLOW_CVAT_URL carries credentials, or
            the Secret block (read only when backend.url is unset) cannot be loaded.
    """
    if config.url:
        return
    block = reads_block(config, environ)
    url = block_url(_load_block(block, load_secret), block) if block else None
    if url:
        if url_has_credentials(url):
            raise BackendError(cvat_url_refusal(f"Prefect Secret block {block!r}"))
        return
    if url_has_credentials(environ.get(ENV_URL) or ""):
        raise BackendError(cvat_url_refusal(ENV_URL))


def reads_block(config: CvatBackendConfig, environ: Mapping[str, str]) -> str | None:
    """The Secret block :func:`check_url` reads for the URL, if any (none with backend.url)."""
    return None if config.url else config.credentials_block or environ.get(ENV_SECRET_BLOCK)


def resolve_connection(
    config: CvatBackendConfig,
    environ: Mapping[str, str],
    load_secret: Callable[[str], Any] = load_prefect_secret,
) -> Connection:
    """Find the URL and credentials: Secret block, else token, else username and password.

    Raises:
        BackendError: no URL, a URL with credentials in it, no credentials, half a
            username/password pair, or the Secret block cannot be loaded.
    """
    block = config.credentials_block or environ.get(ENV_SECRET_BLOCK)
    value = _load_block(block, load_secret) if block else None
    from_block = block_url(value, block) if block else None
    if config.url:
        url = clean_url(config.url, "backend.url")
    elif from_block:
        url = clean_url(from_block, f"Prefect Secret block {block!r}")
    elif environ.get(ENV_URL):
        url = clean_url(environ[ENV_URL], ENV_URL)
    else:
        raise BackendError(
            f"no CVAT URL: set backend.url in the loop configuration, a 'url' in the credentials "
            f"block, or {ENV_URL}"
        )
    if block:
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


def _load_block(block: str, load_secret: Callable[[str], Any]) -> Any:
    try:
        return load_secret(block)
    except Exception as exc:  # whatever Prefect raises, the fix is the same
        raise BackendError(
            f"cannot load the Prefect Secret block {block!r} with the CVAT credentials "
            f"({type(exc).__name__}: {exc}): create it, or unset backend.credentials_block "
            f"and {ENV_SECRET_BLOCK} to use the {ENV_TOKEN} or {ENV_USERNAME} variables"
        ) from exc
