"""``niah rescore --scoring judge``: stored answers judged over a real socket, cached."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from niah.config import ScoringSpec, load_experiment
from niah.rescore import rescore_run, scoring_spec
from niah.results import read_manifest, read_rows
from niah.runner import run_async
from tests.fakes.openai_server import FakeOpenAIServer
from tests.test_judge import fair_judge


def deterministic_run(tmp_path: Path) -> Path:
    exp = load_experiment({
        "name": "rejudge-test",
        "model": {"id": "scripted/half", "options": {"recall": 0.5, "seed": 3}},
        "tokenizer": "tiktoken:cl100k_base",
        "needles": [{"text": "The special magic number is {value}.",
                     "question": "What is the special magic number?"}],
        "grid": {"context_lengths": [200, 400], "depth_percents": [0, 50, 100]},
        "pricing": {"openai-compatible/judge": {"input": 3.0, "output": 0.0}},
    })
    return asyncio.run(run_async(exp, tmp_path / "run", cache_dir=tmp_path / "cache"))


def test_rescore_with_a_judge_judges_stored_answers_once(tmp_path: Path) -> None:
    run_dir = deterministic_run(tmp_path)
    before = {r.trial_id: r for r in read_rows(run_dir)}
    with FakeOpenAIServer(reply=fair_judge) as judge:
        spec = scoring_spec(run_dir, "judge", None, {
            "model": {"id": "openai-compatible/judge", "base_url": judge.base_url},
            "rubric": "binary"})
        total, changed = rescore_run(run_dir, spec, cache_dir=tmp_path / "cache")
        assert (total, changed) == (6, 0)  # a fair judge agrees with `contains`
        assert judge.stats["requests"] == 6
        rows = read_rows(run_dir)
        # the manifest now names the judge: a second rescore asks it again, from the cache
        again = scoring_spec(run_dir, "judge", None)
        assert again.model is not None and again.model.id == "openai-compatible/judge"
        rescore_run(run_dir, again, cache_dir=tmp_path / "cache")
        assert judge.stats["requests"] == 6
    for row in rows:
        old = before[row.trial_id]
        assert row.judge is not None and row.judge.rubric == "binary"
        assert row.judge.deterministic_score == old.score == row.score
        assert row.judge.verdict == old.score  # binary: 0 or 1 as it is
        assert row.cost_usd == old.cost_usd == 0.0  # the model's, untouched
        assert row.judge.cost_usd == pytest.approx(row.judge.usage.prompt_tokens * 3e-6)
        assert "judge_score" not in row.extra  # only gkamradt verdicts draw on 1-10
    assert all(r.judge is not None and r.judge.cached for r in read_rows(run_dir))
    manifest = read_manifest(run_dir)
    assert manifest is not None and manifest.config["scoring"]["kind"] == "judge"
    # back to a deterministic scorer: the judge's verdicts go, the baseline comes back
    rescore_run(run_dir, ScoringSpec(kind="contains"))
    back = read_rows(run_dir)
    assert all(r.judge is None for r in back)
    assert {r.trial_id: r.score for r in back} == {k: r.score for k, r in before.items()}


def test_rescore_judge_without_a_judge_model_is_one_line(tmp_path: Path) -> None:
    from niah.errors import ConfigError

    run_dir = deterministic_run(tmp_path)
    with pytest.raises(ConfigError, match=r"^scoring\.model: is required when scoring\.kind"):
        scoring_spec(run_dir, "judge", None)
