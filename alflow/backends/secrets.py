"""Backend credentials kept in a Prefect Secret block: the block's value, loaded and decoded.

A Secret block holds a string, or a dict that may have been stored as its JSON text; each
backend reads its own credentials out of what :func:`secret_value` gives.
"""

from __future__ import annotations

import json
from typing import Any

from alflow.errors import BackendError


def load_prefect_secret(name: str) -> Any:
    """The value of a Prefect Secret block (imported only when a block is configured)."""
    from prefect.blocks.system import Secret

    return Secret.load(name).get()


def secret_value(value: Any, block: str, expected: str) -> Any:
    """``value`` with JSON text decoded (a dict stored as text); ``expected`` names what the
    block should hold, for the message when the text starts like JSON but is not.

    Raises:
        BackendError: the text starts with '{' but is not JSON.
    """
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise BackendError(
                f"Prefect Secret block {block!r} holds text that starts like JSON but is not: "
                f"store {expected}"
            ) from None
    return value
