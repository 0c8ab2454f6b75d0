"""Where Label Studio is and which API token to send: URL and token, from config and environment.

URL from the config or ``ALFLOW_LABEL_STUDIO_URL``; the token from a Prefect Secret block
(``credentials_block`` or ``ALFLOW_LABEL_STUDIO_SECRET_BLOCK``), else ``ALFLOW_LABEL_STUDIO_TOKEN``.
It never reaches logs, errors or references.

Label Studio has two kinds of token (see docs/backends/label-studio.md):

* a **personal access token** (PAT, Label Studio >= 1.17): a JWT *refresh* token. label-studio-sdk
  trades it at ``/api/token/refresh/`` for a short-lived access token sent as ``Bearer``, and
  trades again when that expires. A PAT has an expiry date of its own.
* a **legacy token**: a 40-character key sent as ``Token <key>``. Since 1.17 new organizations
  have legacy tokens switched off (Organization > API Tokens settings), and the server answers
  401 to them.

The SDK tells them apart by whether the token decodes as a JWT; :func:`token_kind` applies the
same rule so messages can name the kind that was refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from alflow.backends.secrets import load_prefect_secret, secret_value
from alflow.config.backends import LabelStudioBackendConfig
from alflow.errors import BackendError

ENV_URL = "ALFLOW_LABEL_STUDIO_URL"
ENV_TOKEN = "ALFLOW_LABEL_STUDIO_TOKEN"
ENV_SECRET_BLOCK = "ALFLOW_LABEL_STUDIO_SECRET_BLOCK"
PAT = "personal access token"
LEGACY = "legacy token"


@dataclass(frozen=True)
class Connection:
    """Where Label Studio is and the token to send; ``repr`` and messages never show the token."""

    url: str
    source: str  # where the token came from, for messages ("ALFLOW_LABEL_STUDIO_TOKEN", ...)
    token: str = field(repr=False)

    @property
    def token_kind(self) -> str:
        return token_kind(self.token)


def token_kind(token: str) -> str:
    """``PAT`` for a JWT (what label-studio-sdk refreshes), else ``LEGACY``: the SDK's rule."""
    import jwt

    try:
        jwt.decode(token, options={"verify_signature": False, "verify_exp": False})
    except jwt.InvalidTokenError:
        return LEGACY
    return PAT


def clean_url(url: str, where: str = "backend.url") -> str:
    """The server URL without a trailing '/', ``http(s)://`` required; ``where`` names the
    source it came from, for the message.

    Raises:
        BackendError: empty, carries credentials, or has no http/https scheme.
    """
    url = url.strip()
    if not url:
        raise BackendError(f"the Label Studio URL is empty: set backend.url or {ENV_URL}")
    parts = urlsplit(url)
    if parts.username or parts.password:
        raise BackendError(
            f"the Label Studio URL in {where} contains a user name or password: remove them from "
            f"the URL and set {ENV_TOKEN} instead"
        )
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BackendError(
            f"the Label Studio URL {url!r} has no 'http://' or 'https://' scheme and host: write "
            "it as Label Studio prints it, e.g. 'http://localhost:8080'"
        )
    return url.rstrip("/")


def parse_secret(value: Any, block: str) -> str:
    """The token in a Prefect Secret value: a bare token, ``{'token': ...}`` or its JSON text."""
    value = secret_value(value, block, "{'token': ...} or the bare token")
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, Mapping) and value.get("token"):
        return str(value["token"]).strip()
    raise BackendError(
        f"Prefect Secret block {block!r} holds no Label Studio token: store {{'token': ...}} or "
        "the bare token (a personal access token or a legacy token)"
    )


def resolve_connection(
    config: LabelStudioBackendConfig,
    environ: Mapping[str, str],
    load_secret: Callable[[str], Any] = load_prefect_secret,
) -> Connection:
    """Find the URL and token: Secret block, else ``ALFLOW_LABEL_STUDIO_TOKEN``.

    Raises:
        BackendError: no URL, no token, or the Secret block cannot be loaded.
    """
    raw_url = config.url or environ.get(ENV_URL)
    if not raw_url:
        raise BackendError(
            f"no Label Studio URL: set backend.url in the loop configuration or {ENV_URL}"
        )
    url = clean_url(raw_url, "backend.url" if config.url else ENV_URL)
    block = config.credentials_block or environ.get(ENV_SECRET_BLOCK)
    if block:
        try:
            value = load_secret(block)
        except Exception as exc:  # whatever Prefect raises, the fix is the same
            raise BackendError(
                f"cannot load the Prefect Secret block {block!r} with the Label Studio token "
                f"({type(exc).__name__}: {exc}): create it, or unset backend.credentials_block "
                f"and {ENV_SECRET_BLOCK} to use {ENV_TOKEN}"
            ) from exc
        return Connection(url, f"Prefect Secret block {block!r}", parse_secret(value, block))
    token = (environ.get(ENV_TOKEN) or "").strip()
    if token:
        return Connection(url, ENV_TOKEN, token)
    raise BackendError(
        f"no Label Studio token: set {ENV_TOKEN} to a personal access token (Account & Settings "
        f"in Label Studio), or name a Prefect Secret block in backend.credentials_block or "
        f"{ENV_SECRET_BLOCK}"
    )
