"""Sweeps against a fault-injecting server over real sockets: every fault kind, 30% rate.

The accounting is exact because the fake counts what it injected: every transient
fault costs one attempt and is retried (unless it was the last one allowed), every
permanent one ends its trial as an error row of the right kind, every "ok" answer is
one scored row, and every answer without text (empty, or cut by the token limit after
thinking) is one ``empty`` or ``truncated`` row, never retried. Nothing is lost,
nothing is sent twice, nothing retries forever.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from niah.aio import BACKOFF_CAP_S
from niah.cli.main import main
from niah.config import load_experiment
from niah.results import ANSWER_ERRORS, ResultRow, read_rows
from niah.runner import RunFailed, run
from niah.scoring import is_truncated
from tests.fakes.openai_server import (
    ANSWER_FAULTS,
    FAULT_KINDS,
    FakeOpenAIServer,
    FaultConfig,
    Style,
)
from tests.reliability import experiment_data, write_config

PERMANENT = {"context_length": "context_length_exceeded", "unauthorized": "auth"}
"""Fault kind of the fake -> error kind stored in the row."""
TRANSIENT = tuple(k for k in FAULT_KINDS if k not in PERMANENT)
SWEPT = FAULT_KINDS + ANSWER_FAULTS
"""Every fault, and the answers without text that must not be retried."""
TRANSIENT_ERROR_KINDS = {"rate_limit", "server_error", "timeout", "connection", "bad_response"}
RETRY_AFTER_S = 0.01
TIMEOUT_S = 2.0
"""run.timeout_s: far above a normal answer's milliseconds even on a loaded machine (a
normal answer timed out would break the accounting); each "slow" fault costs this long."""
SLOW_DELAY_S = 600.0
""""slow" faults never answer in time (the server wakes them when it shuts down)."""
MAX_RETRIES = 6
KEY_ENV = "NIAH_FAKE_KEY"
BACKENDS = [  # (protocol of the fake, model id, fault seed)
    pytest.param("openai", "openai/gpt-fake", 5, id="openai"),
    pytest.param("openai", "openai-compatible/fake", 6, id="openai-compatible"),
    pytest.param("anthropic", "anthropic/claude-fake", 7, id="anthropic"),
    pytest.param("gemini", "gemini/gemini-fake", 8, id="gemini"),
]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIAH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(KEY_ENV, "sk-test-fault-sweep")
    monkeypatch.setenv("COLUMNS", "160")
    monkeypatch.chdir(tmp_path)



def faults(rate: float = 0.3, seed: int = 5, **kwargs: Any) -> FaultConfig:
    """Every kind once at the start (so each is surely exercised), then ``rate`` at random."""
    kwargs.setdefault("script", list(SWEPT))
    kwargs.setdefault("kinds", SWEPT)
    return FaultConfig(rate=rate, seed=seed, slow_delay_s=SLOW_DELAY_S,
                       retry_after_s=RETRY_AFTER_S,
                       **kwargs)


def model_for(server: FakeOpenAIServer, model_id: str) -> dict[str, Any]:
    return {"id": model_id, "base_url": server.base_url, "api_key_env": KEY_ENV}


def sweep_data(server: FakeOpenAIServer, model_id: str, **run_opts: Any) -> dict[str, Any]:
    run_opts = {"concurrency": 4, "max_retries": MAX_RETRIES, "timeout_s": TIMEOUT_S,
                "cache": False, **run_opts}
    return experiment_data(model_for(server, model_id), lengths=[100, 200, 300],
                           depths=[0, 25, 50, 75, 100], repeats=2, **run_opts)


def account(rows: list[ResultRow], stats: Counter[str], max_retries: int) -> dict[str, int]:
    """Check that the rows and what the server injected tell the same story; the tallies."""
    assert len({r.trial_id for r in rows}) == len(rows)  # no trial stored twice
    ok = [r for r in rows if r.error is None]
    answered = [r for r in rows if r.error and r.error.kind in ANSWER_ERRORS]
    failed = [r for r in rows if r.error is not None and r not in answered]
    exhausted = [r for r in failed if r.error and r.error.kind in TRANSIENT_ERROR_KINDS]
    permanent = [r for r in failed if r not in exhausted]
    # every answer the server gave is a scored row, and it found the needle
    assert len(ok) == stats["ok"]
    assert all(r.score == 1.0 and r.response for r in ok)
    # answers without text: one empty or truncated row each, with the reply and the
    # provider's finish reason kept (a length stop after thinking, or a normal stop)
    cut = [r for r in answered if is_truncated(r.finish_reason)]
    assert (len(cut), len(answered) - len(cut)) == (stats["thinking_cutoff"],
                                                    stats["empty_reply"])
    assert all(r.score is None and r.response == "" and r.finish_reason for r in answered)
    # permanent faults: one error row each, of the right kind, never retried
    for fault, kind in PERMANENT.items():
        assert sum(r.error is not None and r.error.kind == kind for r in permanent) == stats[fault]
    assert {r.error.kind for r in permanent if r.error} <= set(PERMANENT.values())
    assert all(r.score is None and r.response is None for r in failed)
    # transient faults: each cost one attempt; retried unless the retry budget ran out
    injected_transient = sum(stats[k] for k in TRANSIENT)
    assert sum(r.attempts - 1 for r in ok + permanent + answered) + sum(
        r.attempts for r in exhausted) == injected_transient
    assert sum(r.attempts for r in rows) == stats["requests"]  # nothing sent unaccounted
    assert max(r.attempts for r in rows) <= max_retries + 1  # nothing retried forever
    assert all(r.attempts == max_retries + 1 for r in exhausted)
    return {"injected": injected_transient + sum(stats[k] for k in PERMANENT),
            "retried": injected_transient - len(exhausted), "exhausted": len(exhausted),
            "error_rows": len(failed) + len(answered), "answered": len(answered)}


@pytest.mark.parametrize(("style", "model_id", "seed"), BACKENDS)
def test_a_30_percent_fault_sweep_completes_with_exact_accounting(
    style: Style, model_id: str, seed: int, tmp_path: Path, sleeps: list[float]
) -> None:
    with FakeOpenAIServer(faults(seed=seed), style=style) as server:
        exp = load_experiment(sweep_data(server, model_id))
        rows = read_rows(run(exp, tmp_path / "out"))
        stats = server.stats
    assert len(rows) == 30  # rows == trials: nothing lost
    assert all(stats[k] >= 1 for k in SWEPT)  # every kind was injected
    tally = account(rows, stats, MAX_RETRIES)
    assert tally["retried"] > 0 and tally["error_rows"] >= 4 and tally["answered"] >= 2
    assert len(sleeps) == tally["retried"]  # one backoff wait before each retry
    assert RETRY_AFTER_S in sleeps  # Retry-After honoured
    jitter = [s for s in sleeps if s != RETRY_AFTER_S]
    assert jitter and all(0 <= s <= BACKOFF_CAP_S for s in jitter)


def test_permanent_errors_keep_their_status(tmp_path: Path, sleeps: list[float]) -> None:
    with FakeOpenAIServer(faults(rate=0.0, script=["context_length", "unauthorized"])) as srv:
        data = sweep_data(srv, "openai/gpt-fake", concurrency=1)
        data["grid"] = {"context_lengths": [100], "depth_percents": [0, 50, 100]}
        rows = read_rows(run(load_experiment(data), tmp_path / "out"))
        assert srv.stats["requests"] == 3
    errors = [r.error for r in rows if r.error]
    assert [(e.kind, e.status) for e in errors] == [("context_length_exceeded", 400), ("auth", 401)]
    assert "maximum context length is 4096 tokens" in errors[0].message
    assert [r.attempts for r in rows] == [1, 1, 1]
    assert sleeps == []


@pytest.mark.parametrize("style", ["openai", "anthropic", "gemini"])
def test_a_server_that_always_fails_is_retried_exactly_max_retries_times(
    style: Style, tmp_path: Path, sleeps: list[float]
) -> None:
    model_id = {"openai": "openai/gpt-fake", "anthropic": "anthropic/claude-fake",
                "gemini": "gemini/gemini-fake"}[style]
    kinds = [k for k in TRANSIENT if k != "slow"]  # slow faults would only cost wall time
    with FakeOpenAIServer(faults(rate=1.0, kinds=kinds, script=[]), style=style) as server:
        data = sweep_data(server, model_id, max_retries=3, max_error_rate=1.0)
        data["grid"] = {"context_lengths": [100], "depth_percents": [0, 50, 100]}
        with pytest.raises(RunFailed, match="every trial failed"):
            run(load_experiment(data), tmp_path / "out")
        rows = read_rows(tmp_path / "out")
        stats = server.stats
    assert len(rows) == 3 and stats["requests"] == 3 * 4 and stats["ok"] == 0
    assert all(r.attempts == 4 and r.error and r.error.kind in TRANSIENT_ERROR_KINDS
               for r in rows)
    assert len(sleeps) == 3 * 3


def test_the_cli_survives_a_sweep_and_a_rerun_sends_nothing(
    tmp_path: Path, sleeps: list[float], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    with FakeOpenAIServer(faults(seed=11)) as server:
        data = sweep_data(server, "openai-compatible/fake", cache=True)
        cfg = write_config(tmp_path, data["model"], lengths=[100, 200, 300],
                           depths=[0, 25, 50, 75, 100], repeats=2, **data["run"])
        assert main(["run", str(cfg), "--out", str(out)]) == 0
        first = (out / "results.jsonl").read_bytes()
        sent = server.stats["requests"]
        assert main(["run", str(cfg), "--out", str(out)]) == 0  # resume of a finished run
        assert server.stats["requests"] == sent
        stats = server.stats
    assert (out / "results.jsonl").read_bytes() == first
    rows = read_rows(out)
    assert len(rows) == 30
    tally = account(rows, stats, MAX_RETRIES)
    printed = capsys.readouterr()
    assert "openai-compatible/fake" in printed.out  # the summary's model column
    def summary(label: str) -> str:
        line = next(x for x in printed.out.splitlines()
                    if [c.strip() for c in x.split("│")[1:2]] == [label])
        return line.split("│")[2].strip()

    assert summary("errors") == str(tally["error_rows"] - tally["answered"])  # API errors
    assert summary("unanswered") == str(tally["answered"])  # empty or truncated replies
    assert "Traceback" not in printed.err
