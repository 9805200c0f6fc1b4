"""Model backends: ``provider/model`` ids resolved through one registry."""

from niah.backends.base import (
    Backend,
    BackendOptions,
    Completion,
    Message,
    Request,
    Usage,
    parse_options,
)
from niah.backends.registry import create_backend, providers, register

__all__ = [
    "Backend",
    "BackendOptions",
    "Completion",
    "Message",
    "Request",
    "Usage",
    "create_backend",
    "parse_options",
    "providers",
    "register",
]
