"""Several endpoints over real sockets: spread, affinity, a server dying, shared pauses, AIMD.

Every server is a local fake (``tests.fakes.endpoint_server``); runs go through
``run_async`` exactly as ``niah run`` does. Nothing waits on the clock except the one
``Retry-After: 1`` pause, which is the behaviour under test.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from niah.affinity import affinity_key
from niah.config import Experiment, load_experiment
from niah.plan import plan
from niah.results import ResultRow, read_rows
from niah.runner import RunFailed, run_async
from tests.fakes.endpoint_server import EndpointServer

NEEDLE = {"text": "The special magic number is {value}.",
          "question": "What is the special magic number?"}


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIAH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def experiment(model: dict[str, Any], lengths: list[int], depths: list[float],
               repeats: int = 1, **run: Any) -> Experiment:
    return load_experiment({
        "name": "endpoints", "model": model, "tokenizer": "tiktoken:cl100k_base",
        "needles": [NEEDLE],
        "grid": {"context_lengths": lengths, "depth_percents": depths, "repeats": repeats},
        "run": {"cache": False, "max_tokens": 32, **run},
    })


def go(exp: Experiment, out: Path) -> list[ResultRow]:
    return read_rows(asyncio.run(run_async(exp, out)))


def model(*servers: EndpointServer, **endpoint: Any) -> dict[str, Any]:
    return {"id": "openai-compatible/fake",
            "endpoints": [{"base_url": s.base_url, **endpoint} for s in servers]}


def affinity(rows: list[ResultRow], exp: Experiment) -> float:
    """Share of trials answered by the server that answered most of their prefix group."""
    key_of = {t.trial_id: affinity_key(t) for t in plan(exp)}
    groups: dict[Any, Counter[str]] = defaultdict(Counter)
    for r in rows:
        groups[key_of[r.trial_id]][r.extra["endpoint"]] += 1
    return sum(c.most_common(1)[0][1] for c in groups.values()) / len(rows)


def test_trials_spread_evenly_and_prefix_groups_stay_on_one_server(tmp_path: Path) -> None:
    with ExitStack() as stack:
        servers = [stack.enter_context(EndpointServer(hold_s=0.005, hold_per_word_s=2e-5))
                   for _ in range(3)]
        exp = experiment(model(*servers), [500, 1000, 1500, 2000],
                         [0, 25, 50, 75, 100], repeats=2, concurrency=2)
        rows = go(exp, tmp_path / "out")
    assert len(rows) == 40 and all(r.score == 1.0 for r in rows)
    by_server = Counter(r.extra["endpoint"] for r in rows)
    assert by_server == Counter({s.base_url: s.answered for s in servers})  # rows tell the truth
    assert max(by_server.values()) <= 1.5 * 40 / 3, by_server
    assert affinity(rows, exp) >= 0.8


def test_a_server_killed_mid_run_loses_nothing_and_duplicates_nothing(
    tmp_path: Path, sleeps: list[float]
) -> None:
    with ExitStack() as stack:
        a, b = (stack.enter_context(EndpointServer(hold_s=0.01)) for _ in range(2))
        doomed = stack.enter_context(EndpointServer(hold_s=0.01, die_after=4))
        exp = experiment(model(a, b, doomed), [300, 600, 900],
                         [0, 20, 40, 60, 80, 100], repeats=2, concurrency=2)
        rows = go(exp, tmp_path / "out")
        assert doomed.dead.is_set()
    trials = {t.trial_id for t in plan(exp)}
    assert sorted(r.trial_id for r in rows) == sorted(trials)  # one row per trial
    assert all(r.score == 1.0 and r.error is None for r in rows)  # all finished elsewhere
    answered = a.values() + b.values() + doomed.values()
    assert sorted(answered) == sorted(r.needles[0].answer for r in rows)  # each answered once
    assert Counter(r.extra["endpoint"] for r in rows)[doomed.base_url] == 4
    assert any(r.attempts > 1 for r in rows)  # some were retried after the death


def test_a_retry_after_pauses_every_worker_of_that_server(tmp_path: Path) -> None:
    with EndpointServer(hold_s=0.005, retry_after=1) as server:
        exp = experiment({"id": "openai-compatible/fake", "base_url": server.base_url},
                         [200, 400], [0, 25, 50, 75, 100], repeats=2, concurrency=4)
        rows = go(exp, tmp_path / "out")
    assert server.rate_limited_at is not None
    start, end = server.rate_limited_at, server.rate_limited_at + 1.0
    during = [a for a in server.arrivals if start < a.at < end]
    # only requests already on their way when the 429 was sent (at most the other 3
    # workers'); without a shared pause the other workers send dozens in that second
    assert len(during) <= 3
    assert len(rows) == 20 and all(r.score == 1.0 for r in rows)
    assert sum(r.attempts for r in rows) == 21


def test_a_paused_server_gets_nothing_while_the_others_carry_on(tmp_path: Path) -> None:
    with EndpointServer(hold_s=0.005, retry_after=1) as paused, \
            EndpointServer(hold_s=0.005) as other:
        exp = experiment({"id": "openai-compatible/fake", "endpoints": [
            {"base_url": paused.base_url, "concurrency": 1},
            {"base_url": other.base_url, "concurrency": 2}]},
            [200, 400], [0, 25, 50, 75, 100], repeats=2)
        rows = go(exp, tmp_path / "out")
    assert paused.rate_limited_at is not None
    start, end = paused.rate_limited_at, paused.rate_limited_at + 1.0
    assert [a for a in paused.arrivals if start < a.at < end] == []
    assert [a for a in other.arrivals if start < a.at < end]  # the other server kept working
    assert len(rows) == 20 and all(r.score == 1.0 for r in rows)


def test_aimd_settles_near_a_servers_fixed_capacity(tmp_path: Path, sleeps: list[float]) -> None:
    capacity = 3
    with EndpointServer(hold_s=0.05, capacity=capacity) as server:
        exp = experiment({"id": "openai-compatible/fake", "base_url": server.base_url},
                         [200, 300, 400, 500], [0, 20, 40, 60, 80, 100], repeats=2,
                         concurrency=12, max_retries=30)
        rows = go(exp, tmp_path / "out")
    assert len(rows) == 48 and all(r.score == 1.0 for r in rows)
    arrivals = server.arrivals
    later = arrivals[len(arrivals) // 2:]
    rejected_later = sum(a.inflight > capacity for a in later)
    # 12 workers on a server that takes 3: without AIMD three in four requests bounce;
    # with it the limit saws between about capacity/2 and capacity + 1
    assert rejected_later / len(later) <= 0.3, (rejected_later, len(later))
    accepted = [a.inflight for a in later if a.inflight <= capacity]
    assert sum(accepted) / len(accepted) >= capacity / 2


def test_a_server_down_from_the_start_is_skipped(tmp_path: Path, sleeps: list[float]) -> None:
    with EndpointServer() as down, EndpointServer(hold_s=0.002) as up:
        down.kill()  # nothing listens there any more: connections are refused
        exp = experiment(model(down, up), [200, 400], [0, 50, 100], concurrency=2)
        rows = go(exp, tmp_path / "out")
    assert len(rows) == 6 and all(r.score == 1.0 for r in rows)
    assert {r.extra["endpoint"] for r in rows} == {up.base_url}
    assert sum(r.attempts for r in rows) - len(rows) <= 3  # the breaker took it out


def test_when_no_server_can_be_reached_the_model_stops_at_once(
    tmp_path: Path, sleeps: list[float]
) -> None:
    with EndpointServer() as a, EndpointServer() as b:
        a.kill()
        b.kill()
        exp = experiment(model(a, b), [200, 400], [0, 50, 100], concurrency=2)
        with pytest.raises(RunFailed, match="cannot reach any of its 2 endpoints after 3 attempts"):
            asyncio.run(run_async(exp, tmp_path / "out"))
