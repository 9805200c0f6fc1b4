"""The async runner: every trial of every model, sent once, stored durably.

The runner only schedules. Around ``Backend.generate`` and nowhere else live:
bounded concurrency per model, rate limits, retries (exponential backoff with full
jitter, honouring ``retry_after``), the per-request timeout, the response cache and
timing. What a request is and what its answer becomes are plain functions in
``niah.exchange``. A failed trial becomes an error row and the run goes on; a model
stops early when its error rate passes ``run.max_error_rate`` or its endpoint cannot
be reached at all, and one model's failure never stops the others. Trials already
in ``results.jsonl`` are skipped, so an interrupted run resumes where it stopped.

Which of a model's servers each attempt goes to, and when a server pauses, cuts its
concurrency or is taken out, is decided by ``niah.endpoints`` (one backend per
server; a model with one ``base_url`` is a pool of one).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from niah.aio import TokenBucket, all_or_cancel, backoff_delay, with_timeout
from niah.backends.base import Backend, Completion, Request
from niah.backends.registry import create_backend
from niah.cache import ResponseCache
from niah.config import Experiment, ModelSpec
from niah.endpoints import EndpointPool, Lease
from niah.errors import (
    ModelError,
    NiahError,
    RunAborted,
    StoreError,
    TransientModelError,
)
from niah.exchange import check_window, make_request, make_row
from niah.judge import apply_verdict, judge_request, needs_judge
from niah.plan import Trial, plan, prefix_order
from niah.prefetch import PromptFeed, wants_process
from niah.progress import NullProgress, ProgressSink
from niah.prompt import Builder, BuiltPrompt
from niah.results import ANSWER_ERRORS, RESULTS_FILE, ErrorInfo, ResultRow, read_rows
from niah.scoring import check_spec
from niah.shard import Shard, select
from niah.store import RESULTS_ROOT, RunStore, resolve_run_dir
from niah.tasks.registry import check_task
from niah.tokenizers import Tokenizer

SleepFn = Callable[[float], Awaitable[None]]


BuilderFactory = Callable[[Experiment, ModelSpec], Builder]


def default_builder(experiment: Experiment, model: ModelSpec) -> Builder:
    """The experiment's task's builder (``niah.tasks``; the needle task's for a video or
    audio haystack is the media builder); a ``rag/`` twin retrieves from its context."""
    from niah.rag.builder import check_rag, with_rag
    from niah.tasks.registry import task_builder

    if model.is_rag:  # before its answering model's builder refuses in other words
        check_rag(experiment, model)
    return with_rag(experiment, model, task_builder(experiment, model.inner))


async def backoff_sleep(seconds: float) -> None:
    """The one place retries wait; tests replace it to run without waiting."""
    await asyncio.sleep(seconds)


CONNECT_ATTEMPTS = 3
"""Attempts before a model whose endpoint was never reached is given up (seconds, not
the minutes a full retry budget would take against a server that is not there)."""


@dataclass
class ModelRun:
    """One model's share of a run, and its tallies."""

    spec: ModelSpec
    backend: Backend
    builder: Builder
    requests: TokenBucket | None = None
    tokens: TokenBucket | None = None
    build_ahead: bool = False
    """Build this model's prompts ahead in a child process (``run.build_prompts``)."""
    longest_prompt: int = 0
    finished: int = 0
    errors: int = 0
    """Rows with an API error (answer errors, truncated or empty, are not API errors)."""
    answered: bool = False
    """Some request reached the server (a connect failure after that is transient)."""
    last_error: ErrorInfo | None = None
    failure: str | None = None
    """Why this model stopped early, when it did."""
    pool: EndpointPool | None = None
    """The model's servers, ``backend`` the first (``EndpointPool.for_model``)."""

    @property
    def endpoints(self) -> EndpointPool:
        assert self.pool is not None, "ModelRun needs its pool (EndpointPool.for_model)"
        return self.pool


class RunFailed(RunAborted):
    """Some model of a run failed; its finished rows (and every other model's) are kept."""

    def __init__(self, run_dir: Path, failures: dict[str, str]) -> None:
        self.run_dir = run_dir
        self.failures = failures
        super().__init__("; ".join(failures.values()))


class Runner:
    """Sends the pending trials of each model and appends their rows to ``store``."""

    def __init__(
        self, experiment: Experiment, store: RunStore | None, cache: ResponseCache | None,
        progress: ProgressSink | None = None, sleep: SleepFn | None = None,
    ) -> None:
        self.experiment = experiment
        self._store = store
        self.cache = cache
        self.progress = progress or NullProgress()
        self.sleep = sleep or backoff_sleep
        self.rng = random.Random()
        self.judge: ModelRun | None = None
        """The LLM judge (``scoring.kind: judge``), asked after each answer (``niah.judge``)."""

    @property
    def store(self) -> RunStore:
        """Where rows go (None only for a Runner that judges stored rows: ``rescore``)."""
        assert self._store is not None, "this Runner has no store"
        return self._store

    async def run(self, trials: Sequence[Trial], models: Sequence[ModelRun]) -> None:
        """Every model's trials; a model that fails is recorded and the others go on."""
        await all_or_cancel([self._isolated(m, trials) for m in models])

    async def _isolated(self, mr: ModelRun, trials: Sequence[Trial]) -> None:
        try:
            await self._run_model(mr, trials)
        except (StoreError, asyncio.CancelledError):
            raise  # the disk or Ctrl-C: every model stops
        except RunAborted as exc:
            mr.failure = str(exc)
        except NiahError as exc:
            mr.failure = f"{mr.spec.id}: {exc}"
        except Exception as exc:  # a backend plugin, builder or scorer bug
            mr.failure = f"{mr.spec.id}: {type(exc).__name__}: {exc}"

    async def _run_model(self, mr: ModelRun, trials: Sequence[Trial]) -> None:
        done = self.store.done(mr.spec.id)
        pending = [t for t in trials if t.trial_id not in done]
        self.progress.start(mr.spec.id, len(trials), len(trials) - len(pending),
                            work_total=sum(t.context_length for t in trials),
                            work_done=sum(t.context_length for t in trials
                                          if t.trial_id in done))
        limit = mr.endpoints.workers()
        pending = mr.endpoints.plan(pending)  # several endpoints: prefix groups get a home
        feed = PromptFeed(mr.builder, pending, mr.build_ahead,
                          ahead_for(limit, mr.longest_prompt))
        try:
            await all_or_cancel([self._worker(mr, feed) for _ in range(min(limit, len(pending)))])
        finally:
            await feed.aclose()

    async def _worker(self, mr: ModelRun, feed: PromptFeed) -> None:
        # the feed hands each trial to exactly one worker, built just in time or just
        # ahead, never all at once
        while (item := await feed.next()) is not None:
            row = await self._trial(mr, *item)
            self.store.append_soon(row)
            self.progress.advance(mr.spec.id, row)
            self._check_error_rate(mr, row)

    async def _trial(self, mr: ModelRun, trial: Trial, bp: BuiltPrompt) -> ResultRow:
        if bp.error is not None:  # the trial failed while being built (RAG's retrieval)
            return make_row(self.experiment, mr.spec, mr.builder.tokenizer, trial, bp, None,
                            bp.error, int(bp.extra.get("rag", {}).get("attempts", 1)), False)
        request = make_request(self.experiment, bp, mr.spec)
        completion, error, attempts, cached, lease = await self._ask(mr, trial, request)
        row = make_row(self.experiment, mr.spec, mr.builder.tokenizer, trial, bp, completion,
                       error, attempts, cached)
        if lease is not None and mr.endpoints.several:  # endpoints: who answered (no secrets)
            row.extra["endpoint"] = lease.endpoint.label
        if self.judge is not None and needs_judge(row):
            row = await self.judge_row(row, trial)
        return row

    async def judge_row(self, row: ResultRow, trial: Trial) -> ResultRow:
        """``row`` with the judge's verdict, asked like any request (cache, retries, limits)."""
        assert self.judge is not None, "judge_row needs Runner.judge"
        request = judge_request(self.experiment, row)
        completion, error, attempts, cached, _ = await self._ask(self.judge, trial, request)
        return apply_verdict(self.experiment, row, completion, error, attempts, cached)

    async def _ask(
        self, mr: ModelRun, trial: Trial, request: Request
    ) -> tuple[Completion | None, ErrorInfo | None, int, bool, Lease | None]:
        """(completion, error, attempts, cached, lease): from the response cache, else sent."""
        key, completion = "", None
        if self.cache is not None:
            key, completion = self.cache.lookup(mr.spec, request)
        if completion is not None:
            return completion, None, 0, True, None
        completion, error, attempts, lease = await self._send(mr, trial, request)
        if completion is not None and self.cache is not None:
            self.cache.put(key, mr.spec.id, completion)
        return completion, error, attempts, False, lease

    async def _send(
        self, mr: ModelRun, trial: Trial, request: Request
    ) -> tuple[Completion | None, ErrorInfo | None, int, Lease]:
        """(completion, None, attempts, lease) or (None, error, attempts, lease) with the
        lease of the last attempt; retries transients, elsewhere when there is a choice."""
        run = self.experiment.run
        size = (request.prompt_tokens or 0) + request.max_tokens
        attempt = 0
        failed_at = None
        while True:
            attempt += 1
            if mr.requests is not None:
                await mr.requests.acquire()
            if mr.tokens is not None:
                await mr.tokens.acquire(size)
            lease = await mr.endpoints.acquire(trial, size, avoid=failed_at)
            started = time.perf_counter()
            try:
                completion = await with_timeout(lease.backend.generate(request), run.timeout_s)
            except asyncio.TimeoutError:
                failure: ModelError = TransientModelError(
                    f"no answer within run.timeout_s={run.timeout_s:g}s", kind="timeout"
                )
            except ModelError as exc:
                failure = exc
            except BaseException:
                lease.abandon()  # Ctrl-C, or a plugin's bug: free the slot, learn nothing
                raise
            else:
                lease.finish(None)
                mr.answered = True
                if completion.latency_s is None:
                    completion.latency_s = time.perf_counter() - started
                return completion, None, attempt, lease
            lease.finish(failure)
            if not isinstance(failure, TransientModelError):  # permanent, or unknowable
                mr.answered = True
                return None, _error_info(failure), attempt, lease
            if failure.kind != "connect":
                mr.answered = True
            elif not mr.answered and attempt >= CONNECT_ATTEMPTS and mr.endpoints.unreachable():
                where = (f"any of its {len(mr.endpoints.endpoints)} endpoints"
                         if mr.endpoints.several else "the endpoint")
                raise RunAborted(f"{mr.spec.id}: cannot reach {where} after {attempt} "
                                 f"attempts: {failure}")
            if attempt > run.max_retries:
                return None, _error_info(failure), attempt, lease
            failed_at = lease.endpoint
            await mr.endpoints.back_off(
                lease, failure, backoff_delay(attempt, failure.retry_after, self.rng))

    def _check_error_rate(self, mr: ModelRun, row: ResultRow) -> None:
        run = self.experiment.run
        mr.finished += 1
        if row.error is not None and row.score is None and is_api_error(row.error):
            mr.errors += 1
            mr.last_error = row.error
        if mr.finished < run.min_trials_before_abort or not mr.errors:
            return
        if mr.errors / mr.finished > run.max_error_rate:
            last = mr.last_error
            detail = f"; last error: {last.kind}: {last.message}" if last else ""
            raise RunAborted(
                f"{mr.spec.id}: {mr.errors} of {mr.finished} trials failed, above "
                f"run.max_error_rate={run.max_error_rate:g}{detail}; finished rows are kept "
                f"in {self.store.dir} (run again to resume)"
            )


def is_api_error(error: ErrorInfo) -> bool:
    return error.kind not in ANSWER_ERRORS


def _error_info(exc: ModelError) -> ErrorInfo:
    return ErrorInfo(kind=exc.kind, message=str(exc), status=exc.status)


def stored_trials(run_dir: Path) -> dict[str, set[str]]:
    """Trial ids already stored per model, read without the lock (a peek before loading
    models: a finished run needs no model at all)."""
    if not (run_dir / RESULTS_FILE).is_file():
        return {}
    out: dict[str, set[str]] = {}
    for row in read_rows(run_dir):
        out.setdefault(row.model, set()).add(row.trial_id)
    return out


def ahead_for(concurrency: int, longest_prompt: int) -> int:
    """Prompts built ahead: enough to keep every slot fed, at most ~32 MB of text."""
    by_memory = 8_000_000 // max(longest_prompt, 1)
    return max(2, min(2 * concurrency, 64, by_memory))


async def preflight(experiment: Experiment, mr: ModelRun, pending: Sequence[Trial]) -> None:
    """Size the backend for the largest prompt and refuse lengths its window cannot hold."""
    longest = max(pending, key=lambda t: t.context_length)
    built = mr.builder.build(longest)
    measured = mr.longest_prompt = built.prompt_tokens
    max_tokens = experiment.run.max_tokens
    unit = built.length_unit
    del built
    check_window(mr.spec, mr.backend.context_window(), longest.context_length, measured,
                 max_tokens, unit)
    await mr.endpoints.prepare(measured + max(16, measured // 100), max_tokens)
    check_window(mr.spec, mr.backend.context_window(), longest.context_length, measured,
                 max_tokens, unit)


def _failures(models: Sequence[ModelRun], store: RunStore) -> dict[str, str]:
    """Models that stopped early, or whose every stored trial failed."""
    out = {m.spec.id: m.failure for m in models if m.failure}
    for m in models:
        if m.spec.id not in out and store.count(m.spec.id) and not store.scored(m.spec.id):
            last = m.last_error
            why = f"; last error: {last.kind}: {last.message}" if last else ""
            out[m.spec.id] = f"{m.spec.id}: every trial failed{why}"
    return out


async def run_async(
    experiment: Experiment, out_dir: str | Path | None = None, *, fresh: bool = False,
    progress: ProgressSink | None = None, sleep: SleepFn | None = None,
    cache_dir: Path | None = None, results_root: Path = RESULTS_ROOT,
    builder_factory: BuilderFactory | None = None, shard: Shard | None = None,
) -> Path:
    """Run ``experiment`` into a run directory (resumed when it holds rows); its path.

    Raises ``ConfigError`` before writing anything when a length cannot fit a model,
    ``LockedError`` when another run holds the directory. A model that fails (error
    rate, unreachable endpoint, every trial failed, a plugin's exception) does not stop
    the others: once all are done and stored, ``RunFailed`` names each failed model.
    Cancelling (Ctrl-C) keeps every finished row and frees the lock.
    """
    check_spec(experiment.scoring)
    check_task(experiment)
    trials = select(prefix_order(plan(experiment)), shard)
    shard_info = shard.as_dict() if shard is not None else None
    run_dir = resolve_run_dir(experiment, out_dir, fresh, results_root, shard_info)
    stored = {} if fresh else stored_trials(run_dir)
    make_builder = builder_factory or default_builder
    run = experiment.run
    models: list[ModelRun] = []
    judge: ModelRun | None = None
    try:
        for spec in experiment.model:
            builder = make_builder(experiment, spec)
            pool = EndpointPool.for_model(spec, run, create_backend,  # one backend per server
                                          sleep=sleep or backoff_sleep)
            mr = ModelRun(spec, pool.primary, builder, pool=pool)
            models.append(mr)
            mr.requests = TokenBucket(run.requests_per_minute) if run.requests_per_minute else None
            mr.tokens = TokenBucket(run.tokens_per_minute) if run.tokens_per_minute else None
            pending = [t for t in trials if t.trial_id not in stored.get(spec.id, set())]
            if pending:
                await preflight(experiment, mr, pending)  # also warms the builder
            # media trials are files the source writes, not text worth building ahead
            mr.build_ahead = builder_factory is None and experiment.media is None and wants_process(
                run.build_prompts, mr.backend.remote, len(pending)
            )
        if experiment.scoring.model is not None:
            judge = await open_judge(experiment, sleep)
        facts = [{"id": m.spec.id, "backend": m.endpoints.describe(),
                  "tokenizer": m.builder.tokenizer.name} for m in models]
        with RunStore.open(run_dir, experiment, facts, fresh=fresh, shard=shard_info) as store:
            cache = ResponseCache(cache_dir) if run.cache else None
            try:
                runner = Runner(experiment, store, cache, progress, sleep)
                runner.judge = judge
                await runner.run(trials, models)
                await store.drain()
                failures = _failures(models, store)
            finally:
                try:
                    await store.drain()  # every finished row reaches the disk, even on Ctrl-C
                finally:
                    if cache is not None:
                        cache.close()
    finally:
        for mr in [*models, *([judge] if judge is not None else [])]:
            await mr.endpoints.aclose()
    if failures:
        raise RunFailed(run_dir, failures)
    return run_dir


JUDGE_PROMPT_TOKENS = 2048
"""Room for a judge prompt besides the response (question, answers, rubric), to size a
local judge's context."""


class _NoPrompts:
    """The judge's ``ModelRun`` builds no prompts: ``niah.judge`` writes them."""

    tokenizer: Tokenizer

    def build(self, trial: Trial) -> BuiltPrompt:
        raise AssertionError("the LLM judge builds no trial prompts")


async def open_judge(experiment: Experiment, sleep: SleepFn | None = None) -> ModelRun:
    """The LLM judge of ``scoring.kind: judge`` as a model of its own: its own servers,
    concurrency and rate limits (``run``'s), asked by ``Runner.judge_row``."""
    spec = experiment.scoring.model
    assert spec is not None, "open_judge needs scoring.kind judge"
    run = experiment.run
    pool = EndpointPool.for_model(spec, run, create_backend, sleep=sleep or backoff_sleep)
    judge = ModelRun(spec, pool.primary, _NoPrompts(), pool=pool)
    judge.requests = TokenBucket(run.requests_per_minute) if run.requests_per_minute else None
    judge.tokens = TokenBucket(run.tokens_per_minute) if run.tokens_per_minute else None
    try:
        await judge.endpoints.prepare(JUDGE_PROMPT_TOKENS + 2 * run.max_tokens,
                                      experiment.scoring.max_tokens)
    except BaseException:
        await judge.endpoints.aclose()
        raise
    return judge


def run(experiment: Experiment, out_dir: str | Path | None = None, *, fresh: bool = False,
        **kwargs: Any) -> Path:
    """Blocking ``run_async``: the Python API behind ``niah run``."""
    return asyncio.run(run_async(experiment, out_dir, fresh=fresh, **kwargs))
