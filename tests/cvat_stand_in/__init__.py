"""A CVAT stand-in for tests: an in-memory server speaking the REST calls cvat-sdk 2.80 makes.

Use the ``cvat_server`` fixture (:mod:`.fixtures`), or start one yourself::

    with CvatStandIn() as server:
        client = cvat_sdk.make_client(server.url, credentials=(server.username, server.password))
"""

from .server import SERVER_VERSION, CvatStandIn, Logged

__all__ = ["SERVER_VERSION", "CvatStandIn", "Logged"]
