from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from niah.config import Experiment, load_experiment
from niah.errors import HaystackError
from niah.haystack.builder import BuiltPrompt, PromptBuilder
from niah.plan import Trial, plan, prefix_order
from niah.prefetch import AUTO_MIN_TRIALS, PromptFeed, wants_process

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the build process forks")


def experiment(depths: int = 11) -> Experiment:
    return load_experiment({
        "name": "prefetch-test", "model": "scripted/echo", "tokenizer": "tiktoken:cl100k_base",
        "needles": [{"text": "The special magic number is {value}.",
                     "question": "What is the special magic number?"}],
        "grid": {"context_lengths": [300, 600, 900],
                 "depth_percents": {"min": 0, "max": 100, "num": depths}},
    })


def facts(bp: BuiltPrompt) -> tuple[Any, ...]:
    return (bp.trial.trial_id, bp.prompt_sha256, bp.prompt_tokens, bp.messages,
            [(n.answer, n.token_offset) for n in bp.needles])


async def drain(feed: PromptFeed, kill_after: int | None = None) -> list[tuple[Trial, Any]]:
    out = []
    while (item := await feed.next()) is not None:
        out.append(item)
        if kill_after is not None and len(out) == kill_after:
            assert feed.process is not None
            os.kill(feed.process.proc.pid, signal.SIGKILL)
    return out


@pytest.fixture
def builder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PromptBuilder:
    monkeypatch.setenv("NIAH_CACHE_DIR", str(tmp_path / "cache"))
    exp = experiment()
    b = PromptBuilder(exp)
    b.build(plan(exp)[0])  # warm, as the preflight leaves it
    return b


def test_the_child_builds_every_prompt_once_in_order_exactly_as_inline(
    builder: PromptBuilder,
) -> None:
    trials = prefix_order(plan(builder.experiment))

    async def main() -> tuple[list[tuple[Trial, Any]], PromptFeed]:
        feed = PromptFeed(builder, trials, build_ahead=True, ahead=4)
        try:
            return await drain(feed), feed
        finally:
            await feed.aclose()

    got, feed = asyncio.run(main())
    assert [t.trial_id for t, _ in got] == [t.trial_id for t in trials]
    assert [facts(bp) for _, bp in got] == [facts(builder.build(t)) for t in trials]
    assert feed.built_by_child == len(trials)  # none built in this process
    assert feed.process is not None and feed.process.proc.exitcode == 0  # reaped


def test_when_the_child_dies_the_rest_is_built_here_and_nothing_is_lost(
    builder: PromptBuilder, caplog: pytest.LogCaptureFixture
) -> None:
    trials = prefix_order(plan(builder.experiment))

    async def main() -> tuple[list[tuple[Trial, Any]], PromptFeed]:
        feed = PromptFeed(builder, trials, build_ahead=True, ahead=4)
        try:
            return await drain(feed, kill_after=3), feed
        finally:
            await feed.aclose()

    with caplog.at_level(logging.WARNING, logger="niah.prefetch"):
        got, feed = asyncio.run(main())
    assert [t.trial_id for t, _ in got] == [t.trial_id for t in trials]
    assert [facts(bp) for _, bp in got] == [facts(builder.build(t)) for t in trials]
    assert 3 <= feed.built_by_child < len(trials)
    assert "prompt build process stopped" in caplog.text
    assert feed.process is not None and feed.process.proc.exitcode == -signal.SIGKILL


class FailsOn:
    """A builder that cannot build one trial (the child has its own copy)."""

    def __init__(self, inner: PromptBuilder, bad: str) -> None:
        self.inner, self.bad, self.tokenizer = inner, bad, inner.tokenizer

    def build(self, trial: Trial) -> BuiltPrompt:
        if trial.trial_id == self.bad:
            raise HaystackError(f"grid.context_lengths: trial {trial.trial_id} will not fit")
        return self.inner.build(trial)


def test_a_build_error_in_the_child_is_raised_where_its_prompt_is_taken(
    builder: PromptBuilder,
) -> None:
    trials = prefix_order(plan(builder.experiment))
    bad = trials[5].trial_id

    async def main() -> list[str]:
        feed = PromptFeed(FailsOn(builder, bad), trials, build_ahead=True, ahead=4)
        taken: list[str] = []
        try:
            with pytest.raises(HaystackError, match=f"trial {bad} will not fit"):
                while (item := await feed.next()) is not None:
                    taken.append(item[0].trial_id)
        finally:
            await feed.aclose()
        return taken

    assert asyncio.run(main()) == [t.trial_id for t in trials[:5]]


def test_closing_early_stops_and_reaps_the_child(builder: PromptBuilder) -> None:
    trials = prefix_order(plan(builder.experiment))

    async def main() -> PromptFeed:
        feed = PromptFeed(builder, trials, build_ahead=True, ahead=8)
        await feed.next()
        await feed.aclose()
        await feed.aclose()  # idempotent
        return feed

    feed = asyncio.run(main())
    assert feed.process is not None and feed.process.proc.exitcode == 0


def test_inline_feed_builds_here(builder: PromptBuilder) -> None:
    trials = plan(builder.experiment)

    async def main() -> tuple[list[tuple[Trial, Any]], PromptFeed]:
        feed = PromptFeed(builder, trials)
        got = await drain(feed)
        await feed.aclose()
        return got, feed

    got, feed = asyncio.run(main())
    assert [t.trial_id for t, _ in got] == [t.trial_id for t in trials]
    assert feed.process is None and feed.built_by_child == 0


def test_auto_builds_ahead_only_for_remote_models_with_enough_trials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("niah.prefetch.usable_cpus", lambda: 2)
    monkeypatch.setattr("sys.platform", "linux")
    assert wants_process("auto", remote=True, pending=AUTO_MIN_TRIALS)
    assert not wants_process("auto", remote=True, pending=AUTO_MIN_TRIALS - 1)
    assert not wants_process("auto", remote=False, pending=10_000)  # the model needs the CPU
    assert wants_process("process", remote=False, pending=1)
    assert not wants_process("inline", remote=True, pending=10_000)
    monkeypatch.setattr("niah.prefetch.usable_cpus", lambda: 1)
    assert not wants_process("auto", remote=True, pending=10_000)  # no spare core
