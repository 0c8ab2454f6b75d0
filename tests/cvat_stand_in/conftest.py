from .fixtures import cvat_server

__all__ = ["cvat_server"]
