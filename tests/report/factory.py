"""Result rows built in memory, and run directories written from them, for report tests."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from niah.results import ANSWER_ERRORS, ErrorInfo, NeedleResult, ResultRow, UsageInfo

HOSTILE = (
    "<script>document.title='PWNED'</script>",
    "<img src=x onerror=\"document.title='PWNED'\">",
    "</td></table><h1 id=injected>broken out</h1>",
)


def make_row(
    length: int,
    depth: float,
    score: float | None = 1.0,
    *,
    model: str = "openai/gpt-4o",
    repeat: int = 0,
    error: bool | str = False,
    needles: int = 1,
    response: str = "The magic number is 42.",
    cost: float | None = 0.001,
    trial_id: str | None = None,
    reported: int | None = None,
    estimated: bool = False,
) -> ResultRow:
    """One row; ``error=True`` makes it an API-error row (no response, no score).

    ``error="truncated"`` or ``"empty"`` makes it an answer-error row, as
    ``niah.scoring.grade`` writes them: a reply (cut, or empty) and no score; another
    string is the kind of an API error. ``reported`` is the server's prompt token count.
    """
    found = round((score or 0.0) * needles)
    kind = ("permanent" if error is True else error) or None
    answer_error = kind in ANSWER_ERRORS
    replied = kind is None or answer_error
    info = None
    if kind == "empty":
        response = ""
    elif kind == "truncated":
        response = "Let me think about where the magic number could be. First, the"
    if answer_error:
        info = ErrorInfo(kind=str(kind), message=ERROR_MESSAGES[str(kind)])
    elif kind:
        info = ErrorInfo(kind=kind, message="context too long", status=400)
    return ResultRow(
        trial_id=trial_id or f"t-{length}-{depth}-{repeat}",
        experiment="demo",
        model=model,
        context_length=length,
        context_tokens=length,
        prompt_tokens=length + 50,
        requested_depth=depth,
        actual_depth=depth,
        repeat=repeat,
        needles=[
            NeedleResult(text=f"The magic number is {k}.", answer=str(k),
                         token_offset=int(length * depth / 100), actual_depth=depth,
                         found=None if kind else k < found)
            for k in range(needles)
        ],
        response=response if replied else None,
        score=None if kind else score,
        error=info,
        finish_reason="length" if kind == "truncated" else None,
        latency_s=0.5,
        prompt_tokens_reported=reported,
        usage=UsageInfo(prompt_tokens=length + 50, completion_tokens=10 if replied else None),
        cost_usd=cost if replied else None,
        seed=7,
        prompt_sha256="0" * 64,
        niah_version="0.1.0",
        timestamp="2025-01-01T00:00:00+00:00",
        extra={"estimated": True} if estimated else {},
    )


ERROR_MESSAGES = {
    "truncated": "the reply hit the output limit (length) before the answer; "
                 "raise run.max_tokens (thinking models need room for their reasoning)",
    "empty": "the reply is empty (finish_reason stop)",
}


def write_run(
    run_dir: Path, rows: Iterable[ResultRow], manifest: dict[str, Any] | None = None,
    tail: str = "",
) -> Path:
    """A run directory as the runner leaves it; ``tail`` is appended raw (a torn line)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    text = "".join(r.model_dump_json() + "\n" for r in rows) + tail
    (run_dir / "results.jsonl").write_text(text, encoding="utf-8")
    if manifest is not None:
        (run_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return run_dir


def manifest(tokenizers: dict[str, str]) -> dict[str, Any]:
    """A manifest as a run writes it, naming each model's tokenizer."""
    return {"niah_version": "0.1.0", "experiment": "demo", "started_at": "2025-01-01",
            "models": [{"id": m, "tokenizer": t} for m, t in tokenizers.items()]}


def quickstart_rows(model: str = "openai/gpt-4o") -> list[ResultRow]:
    """A 3x3 grid (1K/2K/4K x 0/50/100%) with every kind of cell.

    (0%, 1K)=1, (50%, 1K)=0, (100%, 1K)=0.5 from two trials, (0%, 2K) every trial an
    API error, (50%, 2K) one error + one score 1, (100%, 2K)=1, (0%, 4K)=0,
    (50%, 4K)=1, (100%, 4K) never run.
    """
    return [
        make_row(1000, 0, 1.0, model=model),
        make_row(1000, 50, 0.0, model=model),
        make_row(1000, 100, 1.0, model=model),
        make_row(1000, 100, 0.0, model=model, repeat=1),
        make_row(2000, 0, model=model, error=True),
        make_row(2000, 0, model=model, error=True, repeat=1),
        make_row(2000, 50, model=model, error=True),
        make_row(2000, 50, 1.0, model=model, repeat=1),
        make_row(2000, 100, 1.0, model=model),
        make_row(4000, 0, 0.0, model=model),
        make_row(4000, 50, 1.0, model=model),
    ]


def answer_error_rows(model: str = "anthropic/claude-3-5-sonnet") -> list[ResultRow]:
    """A 2x3 grid (0/50% x 1K/2K/4K) with every mix of answer errors and API errors.

    (0%, 1K) truncated + empty: unanswered; (50%, 1K) score 1 + truncated;
    (0%, 2K) API error + truncated; (50%, 2K) two API errors; (0%, 4K) score 0;
    (50%, 4K) score 1 + API error. 11 trials: 3 scored (recall 2/3), 4 API errors,
    4 unanswered.
    """
    return [
        make_row(1000, 0, model=model, error="truncated"),
        make_row(1000, 0, model=model, error="empty", repeat=1),
        make_row(1000, 50, 1.0, model=model),
        make_row(1000, 50, model=model, error="truncated", repeat=1),
        make_row(2000, 0, model=model, error=True),
        make_row(2000, 0, model=model, error="truncated", repeat=1),
        make_row(2000, 50, model=model, error=True),
        make_row(2000, 50, model=model, error=True, repeat=1),
        make_row(4000, 0, 0.0, model=model),
        make_row(4000, 50, 1.0, model=model),
        make_row(4000, 50, model=model, error=True, repeat=1),
    ]
