from __future__ import annotations

import asyncio

import pytest

from niah.aio import BURST_S, TokenBucket, all_or_cancel, with_timeout


class FakeClock:
    """Time that only moves when the bucket sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def bucket(per_minute: float, clock: FakeClock) -> TokenBucket:
    return TokenBucket(per_minute, clock=clock, sleep=clock.sleep)


def test_requests_per_minute_allow_a_burst_then_pace() -> None:
    clock = FakeClock()
    rpm = bucket(60, clock)  # one a second, a burst of BURST_S

    async def take(n: int) -> list[float]:
        times = []
        for _ in range(n):
            await rpm.acquire()
            times.append(clock.now)
        return times

    times = asyncio.run(take(int(BURST_S) + 3))
    assert times[: int(BURST_S)] == [0.0] * int(BURST_S)
    assert times[int(BURST_S):] == pytest.approx([1.0, 2.0, 3.0])


def test_a_minute_of_requests_takes_a_minute() -> None:
    clock = FakeClock()
    rpm = bucket(120, clock)

    async def take() -> None:
        for _ in range(120 + 20):  # the first 20 are the 10 s burst
            await rpm.acquire()

    asyncio.run(take())
    assert clock.now == pytest.approx(60.0)


def test_tokens_per_minute_and_an_oversized_request() -> None:
    clock = FakeClock()
    tpm = bucket(6000, clock)  # 100 tokens/s, bucket of 1000

    async def take() -> None:
        await tpm.acquire(1000)  # the whole burst
        await tpm.acquire(500)  # waits 5 s
        assert clock.now == pytest.approx(5.0)
        await tpm.acquire(3000)  # bigger than the bucket: waits for a full one (10 s) ...
        assert clock.now == pytest.approx(15.0)
        await tpm.acquire(100)  # ... and the debt of 2000 tokens is paid before the next
        assert clock.now == pytest.approx(15.0 + 21.0)

    asyncio.run(take())


def test_waiters_are_served_in_arrival_order() -> None:
    clock = FakeClock()
    rpm = bucket(6, clock)  # a bucket of one request, one every 10 s
    order: list[int] = []

    async def one(i: int) -> None:
        await rpm.acquire()
        order.append(i)

    async def many() -> None:
        await asyncio.gather(*(one(i) for i in range(4)))

    asyncio.run(many())
    assert order == [0, 1, 2, 3]
    assert clock.now == pytest.approx(30.0)


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0)


def test_with_timeout_returns_or_times_out_and_cancels() -> None:
    cancelled: list[bool] = []

    async def answer(delay: float) -> str:
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return "ok"

    async def both() -> None:
        assert await with_timeout(answer(0), 1.0) == "ok"
        with pytest.raises(asyncio.TimeoutError):
            await with_timeout(answer(10), 0.01)

    asyncio.run(both())
    assert cancelled == [True]


def test_with_timeout_never_loses_a_cancel() -> None:
    """asyncio.wait_for (before 3.12) returns an answer that arrives with the cancel."""

    async def main() -> None:
        answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        async def wait_answer() -> str:
            return await answer

        task = asyncio.ensure_future(with_timeout(wait_answer(), 1.0))
        await asyncio.sleep(0)  # the call is now waiting for its answer
        answer.set_result("done")  # the answer and Ctrl-C arrive together
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_with_timeout_leaves_the_caller_usable_after_a_timeout() -> None:
    async def main() -> list[str]:
        out = []
        for delay in (10.0, 0.0, 10.0, 0.0):
            try:
                out.append(await with_timeout(asyncio.sleep(delay, "ok"), 0.01))
            except asyncio.TimeoutError:
                out.append("timeout")
        await asyncio.sleep(0.02)  # no stray cancel is left to hit a later await
        return out

    assert asyncio.run(main()) == ["timeout", "ok", "timeout", "ok"]


def test_all_or_cancel_stops_the_rest_on_the_first_failure() -> None:
    finished: list[str] = []

    async def slow() -> None:
        await asyncio.sleep(10)
        finished.append("slow")

    async def failing() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("boom")

    async def main() -> None:
        await all_or_cancel([])
        with pytest.raises(RuntimeError, match="boom"):
            await all_or_cancel([slow(), failing(), slow()])

    asyncio.run(main())
    assert finished == []
