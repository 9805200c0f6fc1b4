"""How long a 429 without ``Retry-After`` asks to wait: the providers' rate-limit headers.

OpenAI (and Azure OpenAI, Groq, OpenRouter, ...) send, per limit, a remaining count
and the time until it resets as a duration::

    x-ratelimit-remaining-requests: 0        x-ratelimit-reset-requests: 1s
    x-ratelimit-remaining-tokens: 0          x-ratelimit-reset-tokens: 6m0s

Anthropic sends the reset as an RFC 3339 time, for requests, tokens, input tokens
and output tokens::

    anthropic-ratelimit-tokens-remaining: 0
    anthropic-ratelimit-tokens-reset: 2025-08-21T12:41:00Z

The wait is the latest reset among the limits with nothing left (the rule Anthropic's
SDKs follow when ``retry-after`` is missing). With no limit exhausted, or values a
proxy blanks out (Azure's ``-1``), no wait is known and the runner's backoff applies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone

_ANTHROPIC = "anthropic-ratelimit-"
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)(ms|h|m|s))")


def parse_duration(text: str) -> float | None:
    """``6m0s`` -> 360, ``12ms`` -> 0.012, ``1h2m3.5s``, or a bare number of seconds."""
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(n) * scale[u] for n, u in parts)


def _seconds_until(text: str, now: datetime) -> float | None:
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - now).total_seconds())


def _exhausted(value: str | None) -> bool:
    try:
        return value is not None and float(value) == 0
    except ValueError:
        return False


def rate_limit_wait(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds until every exhausted limit has reset, or None when none is known."""
    now = now or datetime.now(timezone.utc)
    lower = {k.lower(): v for k, v in headers.items()}
    waits: list[float] = []
    for name, value in lower.items():
        if name.startswith("x-ratelimit-remaining-") and _exhausted(value):
            reset = lower.get("x-ratelimit-reset-" + name.removeprefix("x-ratelimit-remaining-"))
            wait = parse_duration(reset) if reset else None
        elif (name.startswith(_ANTHROPIC) and name.endswith("-remaining")
              and _exhausted(value)):
            reset = lower.get(name.removesuffix("-remaining") + "-reset")
            wait = _seconds_until(reset, now) if reset else None
        else:
            continue
        if wait is not None:
            waits.append(wait)
    return max(waits) if waits else None
