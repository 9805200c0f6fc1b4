"""Asyncio building blocks of the runner: a token bucket for rate limits, a timeout
that never loses a cancel, and "run these, and cancel them all if one fails".

Providers meter per minute but also dislike bursts, so the bucket holds ten
seconds of budget. A request larger than the bucket (a 100K-token prompt under a
low tokens/min limit) waits for a full bucket and then goes, leaving a debt that
later requests wait out; otherwise it could never be sent.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

BURST_S = 10.0


class TokenBucket:
    """Refills ``per_minute / 60`` units a second up to ``BURST_S`` seconds' worth."""

    def __init__(
        self,
        per_minute: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be > 0")
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * BURST_S)
        self.level = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self.level = min(self.capacity, self.level + (now - self._last) * self.rate)
        self._last = now

    async def acquire(self, amount: float = 1.0) -> None:
        """Wait until ``amount`` units are available (in arrival order), then take them."""
        async with self._lock:
            need = min(amount, self.capacity)
            self._refill()
            while self.level < need - 1e-9:
                await self._sleep((need - self.level) / self.rate)
                self._refill()
            self.level -= amount


async def with_timeout(coro: Coroutine[Any, Any, T], timeout: float) -> T:
    """``coro`` within ``timeout`` seconds, else ``asyncio.TimeoutError``; never loses
    a cancel (Ctrl-C), as ``asyncio.wait_for`` before 3.12 can when an answer arrives
    with the cancel.

    On 3.11+ the call runs in the caller's own task under ``asyncio.timeout``: a
    task per request cost about 0.3 ms against a fast server, as much as httpx's own
    work (anyio sets up per-task state for each new task).
    """
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(timeout):
            return await coro
    task = asyncio.ensure_future(coro)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    except BaseException:
        await _stop(task)
        raise
    if not done:
        await _stop(task)
        raise asyncio.TimeoutError
    return task.result()


async def _stop(task: asyncio.Future[Any]) -> None:
    task.cancel()
    await asyncio.wait({task})
    if not task.cancelled():
        task.exception()  # retrieved: a late failure of a cancelled call is not news


async def all_or_cancel(coros: Sequence[Coroutine[Any, Any, None]]) -> None:
    """Run concurrently; the first failure (or our own cancellation) cancels the rest."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    if not tasks:
        return
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 60.0
RETRY_AFTER_CAP_S = 600.0


def backoff_delay(attempt: int, retry_after: float | None, rng: random.Random) -> float:
    """``retry_after`` when the server gave one, else full jitter: U(0, min(cap, base*2^n))."""
    if retry_after is not None and retry_after >= 0:
        return min(retry_after, RETRY_AFTER_CAP_S)
    return rng.uniform(0.0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1)))
