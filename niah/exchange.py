"""One trial's exchange with a model, as plain functions: the request it sends and the
row its answer (or failure) becomes.

The runner only schedules; ``--dry-run``, pricing and ``rescore`` call the same
functions, so a request, a cost or a score is derived one way everywhere.
"""

from __future__ import annotations

from typing import Any

from niah._version import __version__
from niah.backends.base import Completion, Message, Request
from niah.backends.registry import request_temperature
from niah.config import Experiment, ModelSpec
from niah.errors import ConfigError
from niah.plan import Trial
from niah.pricing import cache_savings, cost, price_for
from niah.prompt import BuiltPrompt
from niah.prompt_cache import cache_hint
from niah.results import ErrorInfo, NeedleResult, ResultRow, UsageInfo
from niah.store import utc_now
from niah.tasks.registry import task_options
from niah.tokenizers import Tokenizer


def make_request(experiment: Experiment, bp: BuiltPrompt, spec: ModelSpec) -> Request:
    """The request for one built prompt to one model (``run.temperature: auto`` depends
    on the model: see ``Backend.request_temperature``)."""
    run = experiment.run
    return Request(
        messages=[Message.model_validate(m) for m in bp.messages],
        max_tokens=run.max_tokens, temperature=request_temperature(spec, run.temperature),
        seed=experiment.seed, prompt_tokens=bp.prompt_tokens, prompt_sha256=bp.prompt_sha256,
        cache=cache_hint(experiment, spec, bp) if not bp.media else None,
        media=bp.media, media_at=bp.media_at,
    )


def make_row(
    experiment: Experiment, spec: ModelSpec, tokenizer: Tokenizer, trial: Trial,
    bp: BuiltPrompt, completion: Completion | None, error: ErrorInfo | None,
    attempts: int, cached: bool,
) -> ResultRow:
    """The result row of one trial: scored, an answer error, or an API error."""
    hits: list[bool | None] = [None] * len(bp.needles)
    row_score: float | None = None
    usage = UsageInfo()
    row_cost: float | None = None
    savings: float | None = None
    extra: dict[str, Any] = {"question": bp.question, **bp.extra}
    if bp.media:
        extra["media"] = {"form": bp.media_form, "parts": len(bp.media),
                          "bytes": sum(p.nbytes for p in bp.media)}
    if completion is not None:
        task, options = task_options(experiment.task)
        graded = task.grade(bp, completion.text, completion.finish_reason, experiment.scoring,
                            options)
        row_score, hits, error = graded.score, graded.hits, graded.error
        usage = UsageInfo(**completion.usage.model_dump())
        prompt = usage.prompt_tokens if usage.prompt_tokens is not None else bp.prompt_tokens
        output = usage.completion_tokens
        if output is None:
            output = tokenizer.count(completion.text)
        price = price_for(spec, experiment.pricing, prompt)
        read, written = usage.cached_tokens or 0, usage.cache_write_tokens or 0
        row_cost = cost(price, prompt, output, read, written)
        savings = cache_savings(price, prompt, read, written)
        if completion.provider_id:
            extra["provider_id"] = completion.provider_id
        raw = dict(completion.raw or {})
        if isinstance(raw.get("rag"), dict):  # a rag/ cascade twin retrieved from its transcript
            from niah.rag.transcript import recall_facts  # numpy/retrievers: only then

            extra["rag"] = recall_facts(raw.pop("rag"), [n.answer for n in bp.needles
                                                         if not n.distractor])
        if raw:
            extra["raw"] = raw
    return ResultRow(
        trial_id=trial.trial_id, experiment=experiment.name, model=spec.id,
        context_length=trial.context_length, context_tokens=bp.context_tokens,
        prompt_tokens=bp.prompt_tokens, prompt_tokens_reported=usage.prompt_tokens,
        requested_depth=trial.requested_depth, actual_depth=bp.actual_depth,
        repeat=trial.repeat, length_unit="seconds" if bp.length_unit == "seconds" else "tokens",
        needles=[
            NeedleResult(text=n.text, answer=n.answer, key=n.key, token_offset=n.token_offset,
                         actual_depth=n.actual_depth, found=hit, distractor=n.distractor,
                         time_s=n.time_s, index=n.index)
            for n, hit in zip(bp.needles, hits, strict=True)
        ],
        response=completion.text if completion is not None else None,
        score=row_score, error=error,
        latency_s=completion.latency_s if completion is not None else None,
        usage=usage, cost_usd=row_cost, cache_savings_usd=savings,
        finish_reason=completion.finish_reason if completion is not None else None,
        attempts=attempts, cached=cached, seed=trial.seed,
        prompt_sha256=bp.prompt_sha256, niah_version=__version__,
        timestamp=utc_now().isoformat(timespec="milliseconds"), extra=extra,
    )


def check_window(spec: ModelSpec, window: int | None, context_length: int,
                 prompt_tokens: int, max_tokens: int, unit: str = "tokens") -> None:
    """Refuse a length whose prompt plus answer cannot fit the model's window (the one
    check behind ``plan``, ``--dry-run`` and ``run``)."""
    if window is not None and prompt_tokens + max_tokens > window:
        field, length = "grid.context_lengths", str(context_length)
        if unit == "seconds":
            field, length = "grid.durations", f"{context_length} s"
        raise ConfigError(
            field,
            f"{length} does not fit {spec.id}: its prompt is {prompt_tokens} "
            f"tokens + run.max_tokens {max_tokens} > its context window of {window} "
            "(set model.context_window if that is wrong)",
        )
