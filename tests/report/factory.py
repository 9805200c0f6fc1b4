"""Result rows built in memory, and run directories written from them, for report tests."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from niah.results import ErrorInfo, NeedleResult, ResultRow, UsageInfo

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
    error: bool = False,
    needles: int = 1,
    response: str = "The magic number is 42.",
    cost: float | None = 0.001,
    trial_id: str | None = None,
) -> ResultRow:
    """One row; ``error=True`` makes it an API-error row (no response, no score)."""
    found = round((score or 0.0) * needles)
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
                         found=None if error else k < found)
            for k in range(needles)
        ],
        response=None if error else response,
        score=None if error else score,
        error=ErrorInfo(kind="permanent", message="context too long", status=400)
        if error else None,
        latency_s=0.5,
        usage=UsageInfo(prompt_tokens=length + 50, completion_tokens=None if error else 10),
        cost_usd=None if error else cost,
        seed=7,
        prompt_sha256="0" * 64,
        niah_version="0.1.0",
        timestamp="2025-01-01T00:00:00+00:00",
    )


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
