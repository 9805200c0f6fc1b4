"""Secrets out of everything niah stores, prints or shows.

Two shapes of data carry secrets, so there are two functions:

- ``redact_text``: a message from a server or a library (an error body that echoes
  the request headers, a URL with ``?key=``). Known keys, bearer tokens and key
  query parameters become ``***``.
- ``redact_keys``: a mapping such as a run manifest shown in a report. Values under
  secret-looking keys (``api_key``, ``authorization``, ``token``, ...) become
  ``[redacted]``; ``max_tokens`` and the like are kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

REDACTED = "***"
"""What ``redact_text`` puts where a secret was."""
REDACTED_VALUE = "[redacted]"
"""What ``redact_keys`` puts in place of a value under a secret-looking key."""

_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',;}]+")
_URL_KEY = re.compile(r"(?i)([?&](?:key|api_key|api-key)=)[^&\s\"']+")
_SECRET_KEY = re.compile(
    r"^(api[_-]?key|apikey|x-api-key|authorization|password|passwd|secret|client_secret|"
    r"access[_-]?token|auth[_-]?token|bearer|token)$",
    re.IGNORECASE,
)


def redact_text(text: str, secrets: Sequence[str] = ()) -> str:
    """``text`` without the given secrets, bearer tokens or ``key=`` URL parameters."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _BEARER.sub(rf"\1{REDACTED}", text)
    return _URL_KEY.sub(rf"\1{REDACTED}", text)


def redact_keys(value: Any) -> Any:
    """A copy of ``value`` (mappings and lists, nested) with the values under
    secret-looking keys replaced."""
    if isinstance(value, Mapping):
        return {
            str(k): REDACTED_VALUE if _SECRET_KEY.match(str(k)) else redact_keys(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_keys(v) for v in value]
    return value
