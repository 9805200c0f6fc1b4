"""``niah.judge``: verdicts read, and an LLM judge asked by the runner over a real socket."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from niah.config import load_experiment
from niah.errors import ConfigError
from niah.judge import MalformedVerdict, parse_verdict
from niah.results import ResultRow, read_rows
from niah.runner import run_async
from tests.fakes.openai_server import FakeOpenAIServer

EXPECTED = re.compile(r"Expected answer\(s\):\n- (\S+)")
RESPONSE = re.compile(r"Response:\n<<<\n(.*?)\n>>>", re.DOTALL)


def fair_judge(prompt: str) -> str:
    """A judge that gives full marks when the response holds the expected answer (10 of
    gkamradt's 1-10, else 1; 1 of binary's 0/1, else 0)."""
    answer = EXPECTED.search(prompt)
    response = RESPONSE.search(prompt)
    assert answer is not None and response is not None, prompt
    hit = answer.group(1) in response.group(1)
    top, bottom = (10, 1) if "integer from 1 to 10" in prompt else (1, 0)
    return json.dumps({"score": top if hit else bottom, "reason": "found" if hit else "missing"})


@pytest.mark.parametrize(("reply", "rubric", "verdict", "score"), [
    ('{"score": 10, "reason": "exact"}', "gkamradt", 10, 1.0),
    ('{"score": 1, "reason": "miss"}', "gkamradt", 1, 0.0),
    ('```json\n{"score": "7", "reason": "close"}\n```', "gkamradt", 7, 6 / 9),
    ("Sure. {\"score\": 0, \"reason\": \"wrong\"} Done.", "binary", 0, 0.0),
    ("[[4]]", "gkamradt", 4, 3 / 9),
    ("Score: 1", "binary", 1, 1.0),
    ('{"score": 0.25}', "custom", 0.25, 0.25),
])
def test_verdicts_are_read_and_mapped_to_recall(reply: str, rubric: str, verdict: float,
                                                score: float) -> None:
    got = parse_verdict(reply, rubric)
    assert got.verdict == verdict
    assert got.score == pytest.approx(score)


@pytest.mark.parametrize(("reply", "rubric", "why"), [
    ("The answer looks right.", "gkamradt", "no JSON object"),
    ('{"score": 11, "reason": "great"}', "gkamradt", "outside 1..10"),
    ('{"score": 0.5}', "binary", "not 0 or 1"),
    ('{"reason": "no score"}', "gkamradt", 'no "score"'),
    ('{"score": "high"}', "gkamradt", "not a number"),
    ('{"score": true}', "binary", "not a number"),
    ('{"score": 7,', "gkamradt", "no JSON object"),
    ('{"score": 7, }', "gkamradt", "does not parse"),
])
def test_malformed_verdicts_say_what_is_wrong(reply: str, rubric: str, why: str) -> None:
    with pytest.raises(MalformedVerdict, match=re.escape(why)):
        parse_verdict(reply, rubric)


def judged_experiment(base_url: str, **scoring: Any) -> Any:
    return load_experiment({
        "name": "judge-test",
        "model": {"id": "scripted/half", "options": {"recall": 0.5, "seed": 3}},
        "tokenizer": "tiktoken:cl100k_base",
        "needles": [{"text": "The special magic number is {value}.",
                     "question": "What is the special magic number?"}],
        "grid": {"context_lengths": [200, 400], "depth_percents": [0, 25, 50, 75, 100]},
        "scoring": {"kind": "judge", "rubric": "gkamradt",
                    "model": {"id": "openai-compatible/judge", "base_url": base_url},
                    **scoring},
        "pricing": {"openai-compatible/judge": {"input": 1.0, "output": 2.0}},
        "run": {"concurrency": 2},
    })


def go(exp: Any, out: Path, cache: Path) -> list[ResultRow]:
    return read_rows(asyncio.run(run_async(exp, out, cache_dir=cache)))


def test_a_judged_run_stores_verdicts_beside_the_baseline_and_a_rerun_asks_nothing(
    tmp_path: Path,
) -> None:
    with FakeOpenAIServer(reply=fair_judge) as judge:
        exp = judged_experiment(judge.base_url)
        rows = go(exp, tmp_path / "a", tmp_path / "cache")
        first = judge.stats["requests"]
        again = go(exp, tmp_path / "b", tmp_path / "cache")
        assert judge.stats["requests"] == first == len(rows) == 10
    scores = set()
    for row in rows:
        assert row.error is None and row.judge is not None and row.judge.error is None
        found = bool(row.needles[0].found)
        assert row.judge.deterministic_score == float(found)
        assert row.judge.verdict == (10 if found else 1)
        assert row.score == row.judge.score == float(found)  # (verdict - 1) / 9
        assert row.extra["judge_score"] == row.judge.verdict
        assert row.judge.reason == ("found" if found else "missing")
        # the judge's cost is its own: its usage at its price, the model's cost apart
        usage = row.judge.usage
        assert usage.prompt_tokens and usage.completion_tokens
        assert row.judge.cost_usd == pytest.approx(
            (usage.prompt_tokens * 1.0 + usage.completion_tokens * 2.0) / 1e6)
        assert row.cost_usd == 0.0 and not row.judge.cached and row.judge.attempts == 1
        scores.add(row.score)
    assert scores == {0.0, 1.0}  # the scripted model missed some needles
    body = judge.requests[0].body
    assert body["model"] == "judge" and body["max_tokens"] == 256
    assert "What is the special magic number?" in body["messages"][1]["content"]
    assert all(r.judge is not None and r.judge.cached and r.judge.attempts == 0 for r in again)
    assert {r.trial_id: r.score for r in again} == {r.trial_id: r.score for r in rows}


def test_a_malformed_verdict_is_an_error_on_the_judge_part_never_a_crash(
    tmp_path: Path,
) -> None:
    replies = iter(["I think it is correct.", '{"score": 10, "reason": "ok"}'] * 5)
    with FakeOpenAIServer(reply=lambda prompt: next(replies)) as judge:
        exp = judged_experiment(judge.base_url)
        rows = go(exp, tmp_path / "a", tmp_path / "cache")
    bad = [r for r in rows if r.judge is not None and r.judge.error is not None]
    good = [r for r in rows if r.judge is not None and r.judge.error is None]
    assert len(bad) == len(good) == 5
    for row in bad:
        assert row.judge is not None and row.judge.error is not None
        assert row.judge.error.kind == "judge_output"
        assert "no JSON object" in row.judge.error.message
        assert row.judge.reply == "I think it is correct."
        assert row.score is None and row.error is not None and row.error.kind == "judge"
        assert "openai-compatible/judge" in row.error.message
        assert row.response and row.judge.deterministic_score is not None  # nothing lost
        assert "judge_score" not in row.extra
    assert all(r.score == 1.0 and r.judge is not None and r.judge.verdict == 10 for r in good)


def test_a_judge_api_error_is_recorded_and_the_run_goes_on(tmp_path: Path) -> None:
    from tests.fakes.openai_server import FaultConfig

    faults = FaultConfig(script=["unauthorized"])  # the first judge request: 401
    with FakeOpenAIServer(faults, reply=fair_judge) as judge:
        exp = judged_experiment(judge.base_url)
        rows = go(exp, tmp_path / "a", tmp_path / "cache")
    failed = [r for r in rows if r.error is not None]
    assert len(failed) == 1 and failed[0].judge is not None
    assert failed[0].judge.error is not None and failed[0].judge.error.status == 401
    assert failed[0].error is not None and failed[0].error.kind == "judge"
    assert all(r.score is not None for r in rows if r.error is None)


@pytest.mark.parametrize(("scoring", "path", "message"), [
    ({"kind": "judge"}, "scoring.model", "is required when scoring.kind is judge"),
    ({"kind": "judge", "model": "openai/x", "rubric": "gkamradtt"}, "scoring.rubric",
     "unknown rubric 'gkamradtt'"),
    ({"kind": "exact", "model": "openai/x"}, "scoring.model", "only with scoring.kind judge"),
    ({"kind": "judge", "model": "gpt-4o"}, "scoring.model.id", "expected provider/model"),
])
def test_bad_judge_config_is_one_line_naming_the_field(
    scoring: dict[str, Any], path: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_experiment({"name": "x", "model": "scripted/a", "scoring": scoring,
                         "needles": [{"text": "The number is {value}."}]})
    assert info.value.path == path and message in info.value.message
    assert "\n" not in str(info.value)


def test_custom_rubric_text_reaches_the_judge() -> None:
    from niah.judge import judge_prompt

    exp = load_experiment({"name": "x", "model": "scripted/a",
                           "needles": [{"text": "The number is {value}."}],
                           "scoring": {"kind": "judge", "model": "openai/gpt-4o-mini",
                                       "rubric": "Full marks only when the digits match."}})
    text = judge_prompt(exp.scoring, "Which number?", ["42"], "It is 42.")
    assert "Full marks only when the digits match." in text and "0 (fails them)" in text
    assert "- 42" in text and "<<<\nIt is 42.\n>>>" in text
