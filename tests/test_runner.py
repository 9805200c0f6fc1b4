from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from niah import runner as runner_module
from niah.aio import BACKOFF_CAP_S, backoff_delay
from niah.backends import registry
from niah.backends.base import Backend, Completion, Request, Usage
from niah.config import Experiment, ModelSpec, load_experiment
from niah.errors import (
    ConfigError,
    ModelError,
    PermanentModelError,
    RunAborted,
    TransientModelError,
)
from niah.plan import plan, prefix_order
from niah.results import ResultRow, read_rows
from niah.runner import RunFailed, run_async
from niah.store import LOCK_FILE

NEEDLE = re.compile(r"The special magic number is (\d+)\.")
Fault = Callable[[int, Request], "ModelError | None"]


@dataclass
class Recorder:
    """What every ``fake/...`` backend instance saw, across runs."""

    fault: Fault | None = None
    reply: Callable[[Request], Completion] | None = None
    delay: float = 0.0
    max_concurrency: int | None = None
    calls: list[Request] = field(default_factory=list)
    prepared: list[tuple[int, int]] = field(default_factory=list)
    inflight: int = 0
    peak: int = 0
    closed: int = 0


class FakeBackend(Backend):
    """Answers with every needle value in the prompt, or raises the recorder's fault."""

    def __init__(self, spec: ModelSpec, recorder: Recorder) -> None:
        super().__init__(spec)
        self.rec = recorder
        self.max_concurrency = recorder.max_concurrency

    async def prepare(self, max_prompt_tokens: int, max_tokens: int) -> None:
        self.rec.prepared.append((max_prompt_tokens, max_tokens))

    async def generate(self, request: Request) -> Completion:
        rec = self.rec
        rec.calls.append(request)
        rec.inflight += 1
        rec.peak = max(rec.peak, rec.inflight)
        try:
            if rec.delay:
                await asyncio.sleep(rec.delay)
            error = rec.fault(len(rec.calls) - 1, request) if rec.fault else None
            if error is not None:
                raise error
            if rec.reply is not None:
                return rec.reply(request)
            values = NEEDLE.findall(request.messages[-1].content)
            return Completion(
                text=f"The number is {', '.join(values)}.", finish_reason="stop",
                usage=Usage(prompt_tokens=request.prompt_tokens, completion_tokens=5),
            )
        finally:
            rec.inflight -= 1

    async def aclose(self) -> None:
        self.rec.closed += 1


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIAH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def rec(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()
    monkeypatch.setitem(registry._registered, "fake", lambda spec: FakeBackend(spec, recorder))
    return recorder



def experiment(model: Any = "fake/m", lengths: list[int] | None = None,
               depths: list[float] | None = None, **run: Any) -> Experiment:
    return load_experiment({
        "name": "runner-test",
        "model": model,
        "tokenizer": "tiktoken:cl100k_base",
        "needles": [{"text": "The special magic number is {value}.",
                     "question": "What is the special magic number?"}],
        "grid": {"context_lengths": lengths or [200, 400],
                 "depth_percents": depths or [0, 50, 100]},
        "run": {"concurrency": 1, **run},
    })


def go(exp: Experiment, out: Path | None = None, **kwargs: Any) -> Path:
    return asyncio.run(run_async(exp, out, **kwargs))


def rows_of(run_dir: Path) -> list[ResultRow]:
    return read_rows(run_dir)


def test_scripted_perfect_scores_every_trial_in_prefix_order(tmp_path: Path) -> None:
    exp = experiment("scripted/perfect")
    run_dir = go(exp, tmp_path / "out")
    rows = rows_of(run_dir)
    assert [r.trial_id for r in rows] == [t.trial_id for t in prefix_order(plan(exp))]
    for r in rows:
        assert r.score == 1.0 and r.error is None and r.needles[0].found is True
        assert r.context_tokens == r.context_length
        assert r.prompt_tokens_reported == r.prompt_tokens > r.context_tokens
        assert r.cost_usd == 0.0 and r.attempts == 1 and not r.cached
        assert r.latency_s is not None and r.latency_s >= 0
        assert r.needles[0].answer in (r.response or "")
        assert len(r.prompt_sha256) == 64 and r.extra["question"]
    assert not (run_dir / LOCK_FILE).exists()


def test_default_run_dir_is_results_name_timestamp(tmp_path: Path, rec: Recorder) -> None:
    run_dir = go(experiment())
    assert run_dir.parent == Path("results") / "runner-test"
    assert go(experiment()) == run_dir  # the latest matching run is resumed
    assert len(rec.calls) == 6


def test_resume_after_an_interruption_sends_nothing_twice(tmp_path: Path, rec: Recorder) -> None:
    exp = experiment(cache=False)
    rec.delay = 0.001  # a real backend suspends while it waits for its answer
    out = tmp_path / "out"

    class StopAfter:
        def __init__(self, task: asyncio.Task[Path], k: int) -> None:
            self.task, self.k, self.seen = task, k, 0

        def start(self, model: str, total: int, done: int, **work: int) -> None:
            pass

        def advance(self, model: str, row: ResultRow) -> None:
            self.seen += 1
            if self.seen == self.k:
                self.task.cancel()  # what Ctrl-C does to asyncio.run's main task

    async def interrupted() -> None:
        holder: list[StopAfter] = []
        task = asyncio.ensure_future(_later(holder))
        holder.append(StopAfter(task, 2))
        with pytest.raises(asyncio.CancelledError):
            await task

    async def _later(holder: list[StopAfter]) -> Path:
        await asyncio.sleep(0)
        return await run_async(exp, out, progress=holder[0])

    asyncio.run(interrupted())
    first = rows_of(out)
    # the cancel lands at the next suspension: trials already answered in that loop
    # turn are kept too, but the run stopped well short of its 6 trials
    assert 2 <= len(first) < 6
    assert len(first) <= len(rec.calls)  # a call cut short by the cancel is not stored
    assert not (out / LOCK_FILE).exists()  # the lock was released on cancel
    assert rec.closed == 1
    calls_before = len(rec.calls)
    go(exp, out)
    rows = rows_of(out)
    assert sorted(r.trial_id for r in rows) == sorted(t.trial_id for t in plan(exp))
    assert len(rec.calls) - calls_before == 6 - len(first)  # only the missing trials
    sent = {NEEDLE.findall(c.messages[-1].content)[0] for c in rec.calls[calls_before:]}
    assert sent.isdisjoint({r.needles[0].answer for r in first})


def test_a_second_run_into_a_fresh_dir_is_served_by_the_cache(
    tmp_path: Path, rec: Recorder
) -> None:
    exp = experiment()
    first = rows_of(go(exp, tmp_path / "a"))
    assert len(rec.calls) == 6
    second = rows_of(go(exp, tmp_path / "b"))
    assert len(rec.calls) == 6  # nothing sent
    assert all(r.cached for r in second) and not any(r.cached for r in first)
    assert [(r.trial_id, r.response, r.score) for r in second] == [
        (r.trial_id, r.response, r.score) for r in first
    ]


def test_failures_are_not_cached(tmp_path: Path, rec: Recorder, sleeps: list[float]) -> None:
    rec.fault = lambda i, req: PermanentModelError("nope", status=400) if i == 0 else None
    go(experiment(), tmp_path / "a")
    go(experiment(), tmp_path / "b")
    assert len(rec.calls) == 7  # the failed trial is sent again, the others come from the cache


def test_transient_errors_are_retried_honouring_retry_after(
    tmp_path: Path, rec: Recorder, sleeps: list[float]
) -> None:
    rec.fault = lambda i, req: (
        TransientModelError("slow down", kind="rate_limit", status=429, retry_after=2.5)
        if i < 2 else None
    )
    rows = rows_of(go(experiment(), tmp_path / "out"))
    assert sleeps == [2.5, 2.5]
    assert [r.attempts for r in rows] == [3, 1, 1, 1, 1, 1]
    assert all(r.score == 1.0 and r.error is None for r in rows)


def test_backoff_without_retry_after_is_full_jitter(
    tmp_path: Path, rec: Recorder, sleeps: list[float]
) -> None:
    rec.fault = lambda i, req: TransientModelError("503", status=503) if i < 3 else None
    go(experiment(), tmp_path / "out")
    assert len(sleeps) == 3
    for attempt, waited in enumerate(sleeps, start=1):
        assert 0 <= waited <= 2 ** (attempt - 1)
    rng = random.Random(0)
    assert all(0 <= backoff_delay(30, None, rng) <= BACKOFF_CAP_S for _ in range(100))
    assert backoff_delay(1, 7.0, rng) == 7.0


def test_exhausted_retries_become_a_transient_error_row(
    tmp_path: Path, rec: Recorder, sleeps: list[float]
) -> None:
    rec.fault = lambda i, req: TransientModelError("503", status=503) if i < 3 else None
    rows = rows_of(go(experiment(max_retries=2), tmp_path / "out"))
    failed, *others = rows
    assert failed.error is not None
    assert (failed.error.kind, failed.error.status, failed.attempts) == ("transient", 503, 3)
    assert failed.score is None and failed.response is None and failed.cost_usd is None
    assert failed.needles[0].found is None
    assert len(sleeps) == 2
    assert len(others) == 5 and all(r.score == 1.0 for r in others)


def test_permanent_errors_become_rows_and_the_run_goes_on(
    tmp_path: Path, rec: Recorder, sleeps: list[float]
) -> None:
    rec.fault = lambda i, req: (
        PermanentModelError("too long", kind="context_length_exceeded", status=400)
        if i in (1, 3) else None
    )
    rows = rows_of(go(experiment(), tmp_path / "out"))
    assert len(rows) == 6 and len(rec.calls) == 6 and sleeps == []
    errors = [r.error for r in rows if r.error is not None]
    assert [(e.kind, e.status, e.message) for e in errors] == [
        ("context_length_exceeded", 400, "too long")
    ] * 2
    assert sum(r.score == 1.0 for r in rows) == 4


def test_max_error_rate_aborts_and_keeps_rows(tmp_path: Path, rec: Recorder) -> None:
    rec.fault = lambda i, req: PermanentModelError("unauthorized", kind="auth", status=401)
    out = tmp_path / "out"
    with pytest.raises(RunAborted, match=r"fake/m: 3 of 3 trials failed.*auth: unauthorized"):
        go(experiment(min_trials_before_abort=3, max_error_rate=0.5), out)
    assert len(rows_of(out)) == 3 and len(rec.calls) == 3
    assert not (out / LOCK_FILE).exists()


def test_a_mostly_working_model_is_not_aborted(tmp_path: Path, rec: Recorder) -> None:
    rec.fault = lambda i, req: PermanentModelError("x") if i % 3 == 0 else None
    rows = rows_of(go(experiment(min_trials_before_abort=2, max_error_rate=0.5), tmp_path / "o"))
    assert len(rows) == 6 and sum(r.error is not None for r in rows) == 2


def test_a_timeout_is_transient(tmp_path: Path, rec: Recorder, sleeps: list[float]) -> None:
    rec.delay = 5.0
    exp = experiment(lengths=[200], depths=[50], timeout_s=0.05, max_retries=1)
    with pytest.raises(RunFailed, match="fake/m: every trial failed; last error: timeout"):
        go(exp, tmp_path / "out")  # a run whose every trial failed is a failed run
    (row,) = rows_of(tmp_path / "out")
    assert row.error is not None and row.error.kind == "timeout"
    assert "run.timeout_s=0.05" in row.error.message
    assert row.attempts == 2 and len(sleeps) == 1


def test_lengths_beyond_the_context_window_fail_before_writing(
    tmp_path: Path, rec: Recorder
) -> None:
    exp = experiment({"id": "scripted/small", "options": {"context_window": 400}})
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=r"^grid.context_lengths: 400 does not fit scripted/"):
        go(exp, out)
    assert not out.exists()


def test_prepare_gets_the_largest_prompt(tmp_path: Path, rec: Recorder) -> None:
    rows = rows_of(go(experiment(max_tokens=32), tmp_path / "out"))
    ((max_prompt, max_tokens),) = rec.prepared
    assert max_tokens == 32
    assert max_prompt >= max(r.prompt_tokens for r in rows)


def test_a_finished_run_loads_no_model(tmp_path: Path, rec: Recorder) -> None:
    go(experiment(), tmp_path / "out")
    go(experiment(), tmp_path / "out")
    assert len(rec.prepared) == 1 and len(rec.calls) == 6


def test_concurrency_is_bounded_by_run_and_backend(tmp_path: Path, rec: Recorder) -> None:
    rec.delay = 0.02
    go(experiment(concurrency=3, cache=False), tmp_path / "a")
    assert rec.peak == 3
    rec.peak, rec.max_concurrency = 0, 1
    go(experiment(concurrency=3, cache=False), tmp_path / "b")
    assert rec.peak == 1


def test_several_models_run_the_same_trials(tmp_path: Path, rec: Recorder) -> None:
    exp = experiment(["scripted/perfect", "fake/m"])
    rows = rows_of(go(exp, tmp_path / "out"))
    by_model: dict[str, set[str]] = {}
    for r in rows:
        by_model.setdefault(r.model, set()).add(r.trial_id)
    assert by_model["scripted/perfect"] == by_model["fake/m"]
    assert len(by_model["fake/m"]) == 6


def test_an_unexpected_exception_fails_its_model_only_and_frees_the_lock(
    tmp_path: Path, rec: Recorder
) -> None:
    def boom(i: int, req: Request) -> ModelError | None:
        raise KeyError("bug")

    rec.fault = boom
    with pytest.raises(RunFailed) as info:
        go(experiment(["scripted/perfect", "fake/m"]), tmp_path / "out")
    assert info.value.failures == {"fake/m": "fake/m: KeyError: 'bug'"}
    assert not (tmp_path / "out" / LOCK_FILE).exists()
    rows = rows_of(tmp_path / "out")  # the other model finished every trial
    assert [r.model for r in rows] == ["scripted/perfect"] * 6
    assert all(r.score == 1.0 for r in rows)


def test_an_aborted_model_does_not_stop_the_others(tmp_path: Path, rec: Recorder) -> None:
    rec.fault = lambda i, req: PermanentModelError("no")
    exp = experiment(["fake/m", "scripted/perfect"], min_trials_before_abort=2,
                     max_error_rate=0.1)
    with pytest.raises(RunFailed, match=r"fake/m: 2 of 2 trials failed") as info:
        go(exp, tmp_path / "out")
    assert set(info.value.failures) == {"fake/m"}
    rows = rows_of(tmp_path / "out")
    assert sum(r.model == "scripted/perfect" and r.score == 1.0 for r in rows) == 6
    assert sum(r.model == "fake/m" for r in rows) == 2


def test_an_unreachable_endpoint_stops_its_model_within_a_few_attempts(
    tmp_path: Path, rec: Recorder, sleeps: list[float]
) -> None:
    rec.fault = lambda i, req: TransientModelError("refused", kind="connect")
    with pytest.raises(RunFailed, match=r"fake/m: cannot reach the endpoint after 3 attempts"):
        go(experiment(max_retries=6), tmp_path / "out")
    assert len(rec.calls) == 3 and len(sleeps) == 2  # not 6 trials x 7 attempts


def test_truncated_and_empty_replies_are_answer_errors_not_misses(
    tmp_path: Path, rec: Recorder
) -> None:
    replies = iter([("", "stop"), ("The number is", "length"), ("The number is", "stop")])

    def reply(req: Request) -> Completion:
        text, reason = next(replies)
        return Completion(text=text, finish_reason=reason)

    rec.reply = reply
    rows = rows_of(go(experiment(lengths=[200], depths=[0, 50, 100]), tmp_path / "out"))
    kinds = [r.error.kind if r.error else None for r in rows]
    assert kinds == ["empty", "truncated", None]
    assert [r.score for r in rows] == [None, None, 0.0]
    assert len(rec.calls) == 3  # never retried


def test_a_faulty_openai_compatible_server_over_a_real_socket(
    tmp_path: Path, sleeps: list[float]
) -> None:
    from tests.fakes.openai_server import FakeOpenAIServer, FaultConfig

    faults = FaultConfig(rate=0.3, seed=7, slow_delay_s=0.05, retry_after_s=0.01,
                         script=["rate_limit", "server_error", "drop", "unauthorized"])
    with FakeOpenAIServer(faults) as server:
        exp = load_experiment({
            "name": "socket-test",
            "model": {"id": "openai-compatible/fake", "base_url": server.base_url},
            "tokenizer": "tiktoken:cl100k_base",
            "needles": [{"text": "The special magic number is {value}.",
                         "question": "What is the special magic number?"}],
            "grid": {"context_lengths": [200, 400], "depth_percents": [0, 25, 50, 75, 100],
                     "repeats": 2},
            "run": {"concurrency": 4, "max_retries": 8},
        })
        rows = rows_of(go(exp, tmp_path / "out"))
        stats = server.stats
    assert len(rows) == 20 and len({r.trial_id for r in rows}) == 20
    failed = [r for r in rows if r.error is not None]
    assert failed and {r.error.kind for r in failed if r.error} <= {
        "auth", "context_length_exceeded"
    }
    answered = [r for r in rows if r.error is None]
    assert all(r.score == 1.0 and r.prompt_tokens_reported for r in answered)
    assert any(r.attempts > 1 for r in answered)  # transient faults were retried
    assert sum(r.attempts for r in rows) == stats["requests"]
    assert 0.01 in sleeps  # the rate limit's Retry-After was honoured


def test_rate_limits_meter_every_attempt(
    tmp_path: Path, rec: Recorder, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    taken: list[tuple[float, float]] = []

    class Metered:
        def __init__(self, per_minute: float) -> None:
            self.per_minute = per_minute

        async def acquire(self, amount: float = 1.0) -> None:
            taken.append((self.per_minute, amount))

    monkeypatch.setattr(runner_module, "TokenBucket", Metered)
    rec.fault = lambda i, req: TransientModelError("503") if i == 0 else None
    exp = experiment(lengths=[200], depths=[50], requests_per_minute=30,
                     tokens_per_minute=90_000, max_tokens=40)
    (row,) = rows_of(go(exp, tmp_path / "out"))
    size = float(row.prompt_tokens + 40)
    assert taken == [(30, 1.0), (90_000, size), (30, 1.0), (90_000, size)]  # two attempts


def test_prompts_built_in_a_child_process_give_the_same_rows(tmp_path: Path) -> None:
    from tests.fakes.openai_server import FakeOpenAIServer

    rows = {}
    with FakeOpenAIServer() as server:
        for mode in ("process", "inline"):
            exp = experiment(
                {"id": "openai-compatible/fake", "base_url": server.base_url},
                lengths=[200, 400, 600], depths=[float(d) for d in range(0, 100, 10)],
                concurrency=4, cache=False, build_prompts=mode,
            )
            rows[mode] = rows_of(go(exp, tmp_path / mode))
        assert server.stats["requests"] == 60
    for mode in rows:
        assert len(rows[mode]) == 30 and all(r.score == 1.0 for r in rows[mode])

    def key(r: ResultRow) -> tuple[Any, ...]:
        return (r.trial_id, r.prompt_sha256, r.prompt_tokens, r.response,
                [(n.answer, n.token_offset) for n in r.needles])

    assert sorted(map(key, rows["process"])) == sorted(map(key, rows["inline"]))


def test_a_backend_that_never_suspends_still_hears_ctrl_c(tmp_path: Path, rec: Recorder) -> None:
    exp = experiment(cache=False, depths=[i * 5.0 for i in range(21)])  # 42 trials

    class CancelAt:
        def __init__(self, task: asyncio.Task[Path]) -> None:
            self.task = task

        def start(self, model: str, total: int, done: int, **work: int) -> None:
            pass

        def advance(self, model: str, row: ResultRow) -> None:
            self.task.cancel()

    async def main() -> None:
        holder: list[CancelAt] = []

        async def later() -> Path:
            await asyncio.sleep(0)
            return await run_async(exp, tmp_path / "out", progress=holder[0])

        task = asyncio.ensure_future(later())
        holder.append(CancelAt(task))
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert 1 <= len(rows_of(tmp_path / "out")) < 42
