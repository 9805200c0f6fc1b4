from __future__ import annotations

import pytest

from niah.backends.scripted import ScriptedBackend
from niah.config import ModelSpec
from niah.errors import TransientModelError
from niah.server_state import (
    BREAKER_COOLDOWN_S,
    BREAKER_FAILURES,
    BREAKER_MAX_COOLDOWN_S,
    Endpoint,
)


def endpoint(limit: int = 8) -> Endpoint:
    return Endpoint("http://e", ScriptedBackend(ModelSpec(id="scripted/perfect")), limit)


def error(kind: str, status: int | None = None) -> TransientModelError:
    return TransientModelError(kind, kind=kind, status=status)


@pytest.mark.parametrize(("kind", "status", "cut", "counts"), [
    ("rate_limit", 429, True, False),  # overloaded, but alive
    ("server_error", 503, True, True),
    ("server_error", 529, True, True),
    ("server_error", 500, False, True),
    ("connect", None, False, True),
    ("timeout", None, False, True),
])
def test_what_each_failure_does(kind: str, status: int | None, cut: bool, counts: bool) -> None:
    e = endpoint()
    e.failed(error(kind, status), cuts=0, probing=False, now=0.0)
    assert (e.limit == 4, e.failures == 1) == (cut, counts)
    assert e.refused == (kind == "connect")


def test_the_cooldown_doubles_with_each_trip_up_to_its_cap() -> None:
    e = endpoint()
    for _ in range(BREAKER_FAILURES):
        e.failed(error("connect"), 0, False, now=100.0)
    assert e.tripped and e.open_until == 100.0 + BREAKER_COOLDOWN_S
    assert not e.allows(100.0) and e.allows(100.0 + BREAKER_COOLDOWN_S)
    e.failed(error("connect"), 0, probing=True, now=200.0)  # the probe failed
    assert e.open_until == 200.0 + 2 * BREAKER_COOLDOWN_S
    for _ in range(10):
        e.failed(error("connect"), 0, probing=True, now=300.0)
    assert e.open_until == 300.0 + BREAKER_MAX_COOLDOWN_S
    e.answered(probing=True, grow=False)
    assert not e.tripped and e.trips == 0 and e.healthy
