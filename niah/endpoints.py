"""Where each request of a model goes: one server or several, and when none may be used.

An ``EndpointPool`` holds one backend per server of a model (a copy of its spec with
that server's ``base_url``; a model with one ``base_url`` is a pool of one) and hands
out a slot on a server for every attempt the runner makes:

* **Affinity.** Trials sharing a long prompt prefix have one home server (planned by
  ``niah.affinity``), so its KV cache serves the prefix again. An attempt waits for a
  slot at home; another server takes it only when that server is less than half busy
  with nothing of its own waiting, so no server idles while work waits. A group whose
  home is taken out moves to the least-loaded healthy server for good.
* **Back off together.** A 429 (or a 5xx) that says how long to wait (``Retry-After``,
  or a provider's rate-limit reset headers) pauses the whole server from the moment it
  arrives: nothing is sent to it until the wait is over, whether or not that trial is
  retried. The trial retries elsewhere meanwhile if another server is healthy, else
  when the pause ends. Any other transient failure is retried at once on a healthy
  other server, or after the runner's backoff when there is none.
* **AIMD and breaker** (``niah.server_state``). A server's concurrency limit halves on
  an overload answer and grows back one slot per round; a server failing again and
  again is taken out for a while. When every server is out, all are used as if none
  were: there is nowhere else to go, and the runner's backoff paces the retries.

Waiting is on futures that state changes resolve (a slot freed, a pause over); the
only timed waits are the pauses, through the runner's one injectable sleep, so the
pool works the same under the tests' instant sleeps.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from niah.affinity import affinity_key, plan_homes
from niah.aio import TokenBucket
from niah.backends.base import Backend
from niah.config import ModelSpec, RunSpec
from niah.errors import ModelError, TransientModelError
from niah.plan import Trial
from niah.server_state import Endpoint, endpoint_label

PAUSE_CAP_S = 600.0
"""The longest pause a server's wait hint can cause (as the runner's retry cap)."""

SleepFn = Callable[[float], Awaitable[None]]


@dataclass(eq=False)
class Lease:
    """A slot on ``endpoint`` for one attempt; ``finish`` or ``abandon`` frees it."""

    pool: EndpointPool
    endpoint: Endpoint
    cuts: int

    @property
    def backend(self) -> Backend:
        return self.endpoint.backend

    def finish(self, error: ModelError | None) -> None:
        """The attempt's outcome: None for an answer, else the error it raised."""
        self.pool._finish(self, error)

    def abandon(self) -> None:
        """Cancelled or crashed: free the slot, learn nothing."""
        self.endpoint.inflight -= 1
        self.endpoint.probing = False
        self.pool._dispatch()


@dataclass(eq=False)
class _Waiter:
    key: Hashable
    avoid: Endpoint | None
    future: asyncio.Future[Endpoint] = field(repr=False)


class EndpointPool:
    """The servers of one model; see the module docstring for the rules."""

    def __init__(self, endpoints: Sequence[Endpoint], *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: SleepFn = asyncio.sleep) -> None:
        if not endpoints:
            raise ValueError("a pool needs at least one endpoint")
        self.endpoints = list(endpoints)
        self.homes: dict[Hashable, Endpoint] = {}
        self.clock = clock
        self.sleep = sleep
        """Times the pauses: the runner's backoff sleep."""
        self._waiters: deque[_Waiter] = deque()
        self._holds: set[asyncio.Future[None]] = set()

    @classmethod
    def for_model(cls, spec: ModelSpec, run: RunSpec,
                  make_backend: Callable[[ModelSpec], Backend], *,
                  sleep: SleepFn = asyncio.sleep) -> EndpointPool:
        """One backend per server of ``spec`` (one for a model with one ``base_url``)."""
        if not spec.endpoints:
            backend = make_backend(spec)
            return cls([Endpoint(endpoint_label(spec.base_url or spec.id), backend,
                                 _cap(run.concurrency, backend))], sleep=sleep)
        made: list[Endpoint] = []
        for e in spec.endpoints:
            copy = spec.model_copy(update={"base_url": e.base_url, "endpoints": None,
                                           "api_key_env": e.api_key_env or spec.api_key_env})
            backend = make_backend(copy)  # a bad URL or missing key: a ConfigError here
            made.append(Endpoint(
                endpoint_label(e.base_url), backend,
                _cap(e.concurrency or run.concurrency, backend),
                TokenBucket(e.requests_per_minute) if e.requests_per_minute else None,
                TokenBucket(e.tokens_per_minute) if e.tokens_per_minute else None,
            ))
        return cls(made, sleep=sleep)

    @property
    def primary(self) -> Backend:
        return self.endpoints[0].backend

    @property
    def several(self) -> bool:
        return len(self.endpoints) > 1

    def describe(self) -> dict[str, Any]:
        """The first backend's facts for the manifest, and every server's label."""
        facts = self.primary.describe()
        if self.several:
            facts["endpoints"] = [e.label for e in self.endpoints]
        return facts

    def workers(self) -> int:
        """Trials in hand at once: every slot, plus one waiting per server when there
        are several (so a server that frees a slot finds its own next trial waiting)."""
        slots = sum(e.max_limit for e in self.endpoints)
        return slots + len(self.endpoints) if self.several else slots

    def plan(self, trials: Sequence[Trial]) -> list[Trial]:
        """Give every prefix group a home; the order to hand ``trials`` out in."""
        if not self.several:
            return list(trials)
        homes, order = plan_homes(trials, [e.max_limit for e in self.endpoints])
        self.homes = {key: self.endpoints[i] for key, i in homes.items()}
        return order

    async def acquire(self, trial: Trial, size: float = 1.0,
                      avoid: Endpoint | None = None) -> Lease:
        """A slot for one attempt at ``trial`` (``size`` tokens), not on ``avoid`` when
        another server can take it; waits while no server may be used."""
        waiter = _Waiter(affinity_key(trial), avoid,
                         asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        self._dispatch()
        try:
            endpoint = await waiter.future
        except BaseException:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            elif waiter.future.done() and not waiter.future.cancelled():
                Lease(self, waiter.future.result(), 0).abandon()  # granted as we were cancelled
            raise
        lease = Lease(self, endpoint, endpoint.cuts)
        try:
            if endpoint.requests is not None:
                await endpoint.requests.acquire()
            if endpoint.tokens is not None:
                await endpoint.tokens.acquire(size)
        except BaseException:
            lease.abandon()
            raise
        return lease

    async def back_off(self, lease: Lease, failure: ModelError, delay: float) -> None:
        """Wait before retrying after ``failure`` on ``lease``'s server: not at all when
        another server is healthy; else until the pause ends when the failure paused
        the server, or ``delay`` (the runner's backoff)."""
        endpoint = lease.endpoint
        if any(e.healthy for e in self.endpoints if e is not endpoint):
            return
        if failure.retry_after is not None:
            await endpoint.resumed.wait()  # the server's wait is this trial's too
        else:
            await self.sleep(delay)

    def unreachable(self) -> bool:
        """No server has ever answered and every one refused its last connection."""
        return all(e.refused and not e.reached for e in self.endpoints)

    async def prepare(self, max_prompt_tokens: int, max_tokens: int) -> None:
        for e in self.endpoints:
            await e.backend.prepare(max_prompt_tokens, max_tokens)

    async def aclose(self) -> None:
        """Stop pending pauses and close every backend."""
        for hold in list(self._holds):
            hold.cancel()
        if self._holds:
            await asyncio.gather(*self._holds, return_exceptions=True)
        for e in self.endpoints:
            await e.backend.aclose()

    # --- the rules -----------------------------------------------------------------

    def _usable(self, now: float) -> list[Endpoint]:
        allowed = [e for e in self.endpoints if e.allows(now)]
        return [e for e in allowed or self.endpoints if not e.pauses]

    def _choose(self, waiter: _Waiter, usable: list[Endpoint],
                waiting_for: Counter[Endpoint | None] | None) -> Endpoint | None:
        """Where ``waiter`` goes now, or None; ``waiting_for`` given: only a steal."""
        if waiter.avoid in usable and len(usable) > 1:
            usable = [e for e in usable if e is not waiter.avoid]
        free = [e for e in usable if e.inflight < e.slots]
        home = self.homes.get(waiter.key)
        if home is not None and home in usable:
            if waiting_for is None:
                return home if home in free else None
            spare = [e for e in free if e.inflight < e.slots / 2 and not waiting_for[e]]
            return _least_loaded(spare)
        if waiting_for is not None:
            return None
        choice = _least_loaded(free)
        if choice is not None and (home is None or home.tripped):
            self.homes[waiter.key] = choice  # a new group, or its home is out: move it
        return choice

    def _dispatch(self) -> None:
        """Grant slots: oldest first to their home (or anywhere, for a trial without a
        usable home); then a server less than half busy with nothing of its own waiting
        takes the youngest waiter, whose prefix is the shortest: the least to lose."""
        for waiter in list(self._waiters):
            if waiter.future.done():  # cancelled while waiting
                self._waiters.remove(waiter)
        if not self._waiters:
            return
        usable = self._usable(self.clock())
        for waiter in list(self._waiters):
            usable = self._grant(waiter, self._choose(waiter, usable, None), usable)
        waiting_for = Counter(self.homes.get(w.key) for w in self._waiters)
        for waiter in reversed(self._waiters.copy()):
            endpoint = self._choose(waiter, usable, waiting_for)
            if endpoint is not None:
                waiting_for[self.homes.get(waiter.key)] -= 1
            usable = self._grant(waiter, endpoint, usable)

    def _grant(self, waiter: _Waiter, endpoint: Endpoint | None,
               usable: list[Endpoint]) -> list[Endpoint]:
        if endpoint is None:
            return usable
        self._waiters.remove(waiter)
        endpoint.inflight += 1
        endpoint.sent += 1
        waiter.future.set_result(endpoint)
        if endpoint.tripped:  # a probe: no other request until it answers
            endpoint.probing = True
            return self._usable(self.clock())
        return usable

    def _finish(self, lease: Lease, error: ModelError | None) -> None:
        e = lease.endpoint
        e.inflight -= 1
        probing, e.probing = e.probing, False
        if error is None or not isinstance(error, TransientModelError):
            e.answered(probing, grow=error is None)  # a permanent error is an answer too
        else:
            if error.retry_after is not None:  # the server said how long: all wait
                self._pause(e, min(error.retry_after, PAUSE_CAP_S))
            e.failed(error, lease.cuts, probing, self.clock())
        self._dispatch()

    def _pause(self, e: Endpoint, seconds: float) -> None:
        e.pauses += 1
        e.resumed.clear()
        hold = asyncio.ensure_future(self._resume_after(e, seconds))
        self._holds.add(hold)
        hold.add_done_callback(self._holds.discard)

    async def _resume_after(self, e: Endpoint, seconds: float) -> None:
        try:
            await self.sleep(seconds)
        finally:
            e.pauses -= 1
            if not e.pauses:
                e.resumed.set()
            self._dispatch()


def _cap(concurrency: int, backend: Backend) -> int:
    if backend.max_concurrency is not None:
        return max(1, min(concurrency, backend.max_concurrency))
    return concurrency


def _least_loaded(endpoints: list[Endpoint]) -> Endpoint | None:
    """Fewest in flight per slot; servers that just failed last."""
    if not endpoints:
        return None
    return min(endpoints, key=lambda e: (e.failures > 0, (e.inflight + 1) / e.slots))
