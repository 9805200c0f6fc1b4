"""The endpoint pool's rules, in-process: dispatch, affinity, pauses, AIMD, breaker.

Servers are stand-ins (nothing is sent); time is a variable the tests move. The same
rules over real sockets are in ``test_endpoints_servers.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest

from niah.aio import TokenBucket
from niah.backends.base import Backend, Completion, Request
from niah.config import ModelSpec, RunSpec
from niah.endpoints import PAUSE_CAP_S, EndpointPool, Lease
from niah.errors import PermanentModelError, TransientModelError
from niah.plan import Trial
from niah.server_state import BREAKER_COOLDOWN_S, BREAKER_FAILURES, Endpoint, endpoint_label


class Idle(Backend):
    async def generate(self, request: Request) -> Completion:
        raise AssertionError("the pool never sends")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def trial(length: int = 1000, depth: float = 50.0, repeat: int = 0) -> Trial:
    return Trial(f"t{length}-{depth}-{repeat}", length, depth, repeat, 0, (depth,))


class Gate:
    """A sleep that records its seconds and returns when the test opens the gate."""

    def __init__(self) -> None:
        self.slept: list[float] = []
        self.open = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        await self.open.wait()


def pool(*slots: int, clock: Clock | None = None,
         sleep: Callable[[float], Awaitable[None]] | None = None) -> EndpointPool:
    spec = ModelSpec(id="fake/m")
    return EndpointPool([Endpoint(f"http://e{i}", Idle(spec), n) for i, n in enumerate(slots)],
                        clock=clock or Clock(), sleep=sleep or Gate())


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def granted(p: EndpointPool, trials: Sequence[Trial]) -> list[Lease | None]:
    """Ask for a slot for each trial in turn; None where the ask must wait."""
    tasks = [asyncio.ensure_future(p.acquire(t)) for t in trials]
    await asyncio.sleep(0)
    out = [t.result() if t.done() else None for t in tasks]
    for t in tasks:
        if not t.done():
            t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return out


def labels(leases: Sequence[Lease | None]) -> list[str | None]:
    return [lease.endpoint.label if lease else None for lease in leases]


def rate_limited(retry_after: float | None = None) -> TransientModelError:
    return TransientModelError("429", kind="rate_limit", status=429, retry_after=retry_after)


def refused() -> TransientModelError:
    return TransientModelError("refused", kind="connect")


def test_labels_carry_no_credentials_or_query() -> None:
    assert endpoint_label("https://u:secret@host:8443/v1/?key=abc#x") == "https://host:8443/v1"
    assert endpoint_label("http://127.0.0.1:8080/v1/") == "http://127.0.0.1:8080/v1"


def test_one_url_is_a_pool_of_one_and_a_list_one_backend_per_server() -> None:
    made: list[ModelSpec] = []

    def make(spec: ModelSpec) -> Backend:
        made.append(spec)
        return Idle(spec)

    run_spec = RunSpec(concurrency=3)
    single = EndpointPool.for_model(ModelSpec(id="fake/m", base_url="http://a"), run_spec, make)
    assert not single.several and single.workers() == 3
    spec = ModelSpec.model_validate({"id": "fake/m", "api_key_env": "K", "endpoints": [
        {"base_url": "http://a", "concurrency": 5, "requests_per_minute": 60},
        {"base_url": "http://b", "api_key_env": "B", "tokens_per_minute": 1e6}]})
    several = EndpointPool.for_model(spec, run_spec, make)
    assert [(s.base_url, s.endpoints, s.api_key_env) for s in made[1:]] == [
        ("http://a", None, "K"), ("http://b", None, "B")]
    assert [e.max_limit for e in several.endpoints] == [5, 3]
    a, b = several.endpoints
    assert a.requests is not None and a.tokens is None
    assert b.requests is None and b.tokens is not None
    assert several.workers() == 5 + 3 + 2  # every slot and one trial waiting per server


def test_without_homes_each_trial_goes_to_the_least_loaded_server() -> None:
    p = pool(2, 2, 2)
    leases = run(granted(p, [trial(1000 * i) for i in range(1, 8)]))
    assert labels(leases) == ["http://e0", "http://e1", "http://e2"] * 2 + [None]


def test_trials_of_one_prefix_group_wait_for_their_home() -> None:
    p = pool(1, 1, 1)
    group = [trial(4000, 60.0, r) for r in range(3)]
    other = [trial(2000, 10.0), trial(3000, 10.0)]
    p.plan(group + other)
    home = p.homes[(4000, 4)]

    async def scenario() -> None:
        first = await p.acquire(group[0])
        assert first.endpoint is home
        busy = [await p.acquire(t) for t in other]  # the other servers are busy too
        waiting = asyncio.ensure_future(p.acquire(group[1]))
        await asyncio.sleep(0)
        assert not waiting.done()  # home is busy: the trial waits for it
        first.finish(None)
        assert (await waiting).endpoint is home
        for lease in busy:
            lease.finish(None)

    run(scenario())


def test_an_idle_server_takes_a_waiting_trial_from_a_busy_home() -> None:
    p = pool(1, 1)
    group = [trial(4000, 60.0, r) for r in range(2)]
    p.plan(group)  # one group: both trials have the same home

    async def scenario() -> None:
        first = await p.acquire(group[0])
        second = await p.acquire(group[1])  # nothing else waits for the idle server
        assert second.endpoint is not first.endpoint

    run(scenario())


def test_a_server_that_frees_up_takes_the_youngest_waiter_the_shortest_prefix() -> None:
    p = pool(1, 1)
    home, other = p.endpoints
    old, young = trial(4000, 90.0), trial(4000, 10.0)
    p.homes = {(4000, 7): home, (4000, 0): home, (1000, 4): other}

    async def scenario() -> None:
        busy_home = await p.acquire(trial(4000, 90.0, repeat=1))
        busy_other = await p.acquire(trial(1000, 50.0))
        waiting = [asyncio.ensure_future(p.acquire(t)) for t in (old, young)]
        await asyncio.sleep(0)
        busy_other.finish(None)  # nothing of its own waits: it takes the shorter prefix
        await asyncio.sleep(0)
        assert [w.done() for w in waiting] == [False, True]
        assert waiting[1].result().endpoint is other
        busy_home.finish(None)
        assert (await waiting[0]).endpoint is home  # the long prefix stays home

    run(scenario())


def test_a_pause_stops_every_request_to_that_server_until_it_ends() -> None:
    async def scenario() -> None:
        gate = Gate()
        p = pool(2, sleep=gate)
        lease = await p.acquire(trial())
        other = asyncio.ensure_future(p.acquire(trial(2000)))  # another worker, waiting
        lease.finish(rate_limited(1.0))  # the slot it frees is not granted: paused
        later = asyncio.ensure_future(p.acquire(trial(3000)))
        retry = asyncio.ensure_future(p.back_off(lease, rate_limited(1.0), 1.0))
        await asyncio.sleep(0)
        assert gate.slept == [1.0]  # one wait, for everyone
        assert not other.done() and not later.done() and not retry.done()
        gate.open.set()
        await retry
        first = await other  # the 429 also halved the server's limit to one slot
        assert first.endpoint is p.endpoints[0] and not later.done()
        first.finish(None)
        assert (await later).endpoint is p.endpoints[0]

    run(scenario())


def test_a_paused_server_is_skipped_while_the_trial_retries_elsewhere() -> None:
    async def scenario() -> None:
        gate = Gate()
        p = pool(1, 1, sleep=gate)
        lease = await p.acquire(trial())
        lease.finish(rate_limited(1.0))
        await p.back_off(lease, rate_limited(1.0), 1.0)  # at once: the other one is healthy
        assert p.endpoints[0].pauses == 1
        await asyncio.sleep(0)
        assert gate.slept == [1.0]
        leases = await granted(p, [trial(2000), trial(3000)])
        assert labels(leases) == ["http://e1", None]  # nothing goes to the paused one
        gate.open.set()
        await asyncio.sleep(0)
        assert p.endpoints[0].pauses == 0

    run(scenario())


def test_a_wait_longer_than_the_cap_is_cut_to_it() -> None:
    async def scenario() -> None:
        gate = Gate()
        p = pool(1, sleep=gate)
        (await p.acquire(trial())).finish(rate_limited(86_400.0))
        await asyncio.sleep(0)
        assert gate.slept == [PAUSE_CAP_S]
        await p.aclose()

    run(scenario())


def test_a_failure_without_a_wait_retries_at_once_on_a_healthy_server() -> None:
    async def scenario() -> None:
        gate = Gate()
        gate.open.set()
        p = pool(1, 1, sleep=gate)
        lease = await p.acquire(trial())
        lease.finish(refused())
        await p.back_off(lease, refused(), 3.0)
        assert gate.slept == []
        again = await p.acquire(trial(), avoid=lease.endpoint)
        assert again.endpoint is not lease.endpoint
        again.finish(refused())
        await p.back_off(again, refused(), 3.0)  # both failing: the runner's backoff applies
        assert gate.slept == [3.0]

    run(scenario())


def test_aimd_halves_once_per_round_and_grows_back_by_one_per_round() -> None:
    p = pool(8)
    e = p.endpoints[0]

    async def scenario() -> None:
        leases = [await p.acquire(trial(1000 + i)) for i in range(8)]
        leases[0].finish(rate_limited())
        assert e.limit == 4 and e.slots == 4
        leases[1].finish(rate_limited())  # sent before the cut: no second cut
        assert e.limit == 4
        for lease in leases[2:]:
            lease.finish(None)
        assert 4 < e.limit < 6  # six successes at ~1/4 to 1/5 each
        late = await p.acquire(trial(5))
        late.finish(rate_limited())  # sent after the cut: cuts again
        assert e.limit == pytest.approx((4 + sum_growth(4, 6)) / 2)
        for _ in range(200):
            (await p.acquire(trial(6))).finish(None)
        assert e.limit == 8  # never above the configured concurrency

    run(scenario())


def sum_growth(start: float, n: int) -> float:
    limit = start
    for _ in range(n):
        limit += 1 / limit
    return limit - start


def test_the_breaker_takes_a_failing_server_out_then_probes_it() -> None:
    clock = Clock()
    p = pool(1, 1, clock=clock)
    bad, good = p.endpoints

    async def scenario() -> None:
        for _ in range(BREAKER_FAILURES):
            lease = await p.acquire(trial(), avoid=good)
            assert lease.endpoint is bad
            lease.finish(TransientModelError("502", kind="server_error", status=502))
        assert bad.tripped
        assert labels(await granted(p, [trial(2000), trial(3000)])) == ["http://e1", None]
        clock.now += BREAKER_COOLDOWN_S
        probe = await p.acquire(trial(), avoid=good)
        assert probe.endpoint is bad and bad.probing
        probe.finish(None)  # the probe answered: back in
        assert not bad.tripped and bad.failures == 0

    run(scenario())


def test_when_every_server_is_out_they_are_all_used() -> None:
    p = pool(1)
    e = p.endpoints[0]

    async def scenario() -> None:
        for _ in range(BREAKER_FAILURES + 2):
            lease = await p.acquire(trial())
            lease.finish(refused())
        assert e.tripped and e.refused and p.unreachable()

    run(scenario())


def test_a_group_whose_home_is_out_moves_for_good() -> None:
    p = pool(1, 1)
    p.plan([trial(4000, 60.0)])
    home = p.homes[(4000, 4)]
    home.tripped, home.open_until = True, 1e9
    lease = run(p.acquire(trial(4000, 60.0)))
    assert lease.endpoint is not home and p.homes[(4000, 4)] is lease.endpoint


def test_a_permanent_error_means_the_server_is_alive() -> None:
    p = pool(1)
    e = p.endpoints[0]

    async def scenario() -> None:
        (await p.acquire(trial())).finish(refused())
        assert e.refused and e.failures == 1
        (await p.acquire(trial())).finish(PermanentModelError("400", status=400))
        assert e.reached and not e.refused and e.failures == 0 and not p.unreachable()

    run(scenario())


def test_a_cancelled_wait_gives_back_nothing_it_did_not_take() -> None:
    p = pool(1)

    async def scenario() -> None:
        held = await p.acquire(trial())
        waiting = asyncio.ensure_future(p.acquire(trial(2000)))
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        held.finish(None)
        assert p.endpoints[0].inflight == 0
        (await p.acquire(trial())).abandon()
        assert p.endpoints[0].inflight == 0

    run(scenario())


def test_pauses_still_pending_are_stopped_on_close() -> None:
    async def scenario() -> None:
        p = pool(1, 1)
        (await p.acquire(trial())).finish(rate_limited(60.0))
        await asyncio.sleep(0)
        assert p.endpoints[0].pauses == 1
        await p.aclose()
        assert p.endpoints[0].pauses == 0 and p.endpoints[0].resumed.is_set()

    run(scenario())


def test_a_servers_own_rate_limit_is_waited_for_once_it_is_chosen() -> None:
    clock = Clock()
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)
        clock.now += seconds

    spec = ModelSpec(id="fake/m")
    limited = Endpoint("http://slow", Idle(spec), 4,
                       requests=TokenBucket(6, clock=clock, sleep=sleep),  # one per 10 s
                       tokens=TokenBucket(600, clock=clock, sleep=sleep))
    p = EndpointPool([limited], clock=clock)

    async def scenario() -> None:
        (await p.acquire(trial(), size=100)).finish(None)
        assert waited == []
        (await p.acquire(trial(), size=100)).finish(None)
        assert waited == [pytest.approx(10.0)]  # the request bucket; tokens had room

    run(scenario())
