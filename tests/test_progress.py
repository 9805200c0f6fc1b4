from __future__ import annotations

import io

from rich.console import Console

from niah.progress import RichProgress
from niah.results import ErrorInfo, ResultRow, UsageInfo


def row(**changes: object) -> ResultRow:
    data: dict[str, object] = {
        "trial_id": "t", "experiment": "e", "model": "openai/gpt-4o", "context_length": 1000,
        "context_tokens": 1000, "prompt_tokens": 1050, "requested_depth": 0.0,
        "actual_depth": 0.0, "needles": [], "seed": 0, "prompt_sha256": "0",
        "niah_version": "0", "timestamp": "now", "response": "x", "score": 1.0,
        "usage": UsageInfo(prompt_tokens=1050, completion_tokens=10), "cost_usd": 0.5,
    }
    data.update(changes)
    return ResultRow.model_validate(data)


def test_the_bar_counts_done_errors_tokens_and_money_spent() -> None:
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=False)
    with RichProgress(console) as bar:
        bar.start("openai/gpt-4o", total=10, done=3)
        bar.advance("openai/gpt-4o", row())
        bar.advance("openai/gpt-4o", row(cached=True))  # nothing sent, nothing paid
        bar.advance("openai/gpt-4o", row(
            response=None, score=None, cost_usd=None,
            error=ErrorInfo(kind="permanent", message="400"), usage=UsageInfo(),
        ))
    text = out.getvalue()
    assert "openai/gpt-4o" in text and "6/10" in text
    assert "1 err" in text and "2.11K tok" in text and "$0.5000" in text


def test_the_bar_advances_by_context_tokens_so_the_eta_follows_the_work() -> None:
    """A 4K trial is 4x the work of a 1K one: the bar (and rich's ETA) weighs it so."""
    bar = RichProgress(Console(file=io.StringIO(), force_terminal=False))
    with bar:
        bar.start("m", total=3, done=1, work_total=6000, work_done=1000)
        task = bar._bar.tasks[0]
        assert (task.total, task.completed, task.fields["trials"]) == (6000, 1000, "1/3")
        bar.advance("m", row(context_length=4000))
        assert (task.completed, task.fields["trials"]) == (5000, "2/3")
        bar.start("n", total=2, done=0)  # no weights given: trials are the unit
        bar.advance("n", row())
        assert (bar._bar.tasks[1].completed, bar._bar.tasks[1].total) == (1, 2)


def test_the_bar_shows_a_running_total_rounded_and_an_unknown_cost_as_such() -> None:
    out = io.StringIO()
    with RichProgress(Console(file=out, width=120, force_terminal=False)) as bar:
        bar.start("openai/gpt-4o", total=2, done=0)
        bar.advance("openai/gpt-4o", row(prompt_tokens=23_612_335))
        bar.advance("openai/gpt-4o", row(cost_usd=None))
    text = out.getvalue()
    assert "23.6M tok" in text  # niah.fmt.tokens(approx=True): a sum nobody types back
    assert "unknown" in text and "$" not in text.split("unknown")[-1]
