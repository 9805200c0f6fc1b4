"""Model backends: ``provider/model`` ids resolved through one registry."""

from niah.backends.base import Backend, Completion, Message, Request, Usage
from niah.backends.registry import create_backend, providers, register

__all__ = [
    "Backend",
    "Completion",
    "Message",
    "Request",
    "Usage",
    "create_backend",
    "providers",
    "register",
]
