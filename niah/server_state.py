"""What the endpoint pool knows of one server: load, AIMD limit, breaker, pauses.

* **AIMD.** The concurrency limit halves on an overload answer (429, 503, 529), once
  per round of requests sent before the cut (``cuts``), and grows by ``1/limit`` per
  success (about one slot per full round), up to the configured concurrency.
* **Circuit breaker.** ``BREAKER_FAILURES`` failures in a row (connect, timeout, 5xx,
  a dropped or bad reply) take the server out for ``BREAKER_COOLDOWN_S``, doubled at
  each new trip up to ``BREAKER_MAX_COOLDOWN_S``; then one probe decides: an answer
  (even an error status) puts it back, a failure trips it again.
* **Pauses** (a server's own wait hint) are counted here and timed by the pool.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from niah.aio import TokenBucket
from niah.backends.base import Backend
from niah.errors import ModelError

BREAKER_FAILURES = 3
BREAKER_COOLDOWN_S = 30.0
BREAKER_MAX_COOLDOWN_S = 600.0
OVERLOAD_STATUSES = frozenset({429, 503, 529})
"""Answers that mean "too much at once": the server's limit is cut."""
HEALTH_KINDS = frozenset({"connect", "connection", "timeout", "server_error", "bad_response"})
"""Failures that count towards the breaker (a 429 means the server is alive and well)."""


def endpoint_label(url: str) -> str:
    """The URL as rows may show it: no user, password, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}".rstrip("/")


@dataclass(eq=False)
class Endpoint:
    """One server and what the pool knows of it."""

    label: str
    backend: Backend
    max_limit: int
    requests: TokenBucket | None = None
    tokens: TokenBucket | None = None
    limit: float = 0.0
    """The AIMD concurrency limit, 1..max_limit."""
    inflight: int = 0
    cuts: int = 0
    """Limit cuts so far: an overload answer to a request sent before the last cut
    does not cut again."""
    pauses: int = 0
    """Retry-After waits in progress; nothing is sent while any is."""
    resumed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    """Set when no pause is in progress."""
    failures: int = 0
    """Health failures in a row."""
    trips: int = 0
    open_until: float = -math.inf
    tripped: bool = False
    probing: bool = False
    reached: bool = False
    """Some request got an answer (any HTTP status) from this server."""
    refused: bool = False
    """The last attempt could not connect."""
    sent: int = 0

    def __post_init__(self) -> None:
        self.limit = float(self.max_limit)
        self.resumed.set()

    @property
    def slots(self) -> int:
        return max(1, int(self.limit))

    @property
    def healthy(self) -> bool:
        """Nothing against it: not paused, not out, no failure since its last answer."""
        return not self.pauses and not self.tripped and not self.failures

    def allows(self, now: float) -> bool:
        """The breaker lets a request through: closed, or open long enough to probe."""
        return not self.tripped or (now >= self.open_until and not self.probing)

    def answered(self, probing: bool, *, grow: bool) -> None:
        """It answered (``grow``: successfully, so the limit grows)."""
        self.reached, self.refused, self.failures = True, False, 0
        if probing:
            self.tripped, self.trips = False, 0
        if grow:
            self.limit = min(float(self.max_limit), self.limit + 1.0 / self.limit)

    def failed(self, error: ModelError, cuts: int, probing: bool, now: float) -> None:
        """A transient failure of a request sent when ``cuts`` cuts had been made."""
        self.refused = error.kind == "connect"
        self.reached = self.reached or (not self.refused and error.kind != "timeout")
        if error.status in OVERLOAD_STATUSES and cuts == self.cuts:
            self.limit, self.cuts = max(1.0, self.limit / 2), self.cuts + 1
        if error.kind in HEALTH_KINDS:
            self.failures += 1
            if probing or self.failures >= BREAKER_FAILURES:
                self.trips += 1
                self.tripped = True
                cooldown = BREAKER_COOLDOWN_S * 2 ** (self.trips - 1)
                self.open_until = now + min(cooldown, BREAKER_MAX_COOLDOWN_S)
