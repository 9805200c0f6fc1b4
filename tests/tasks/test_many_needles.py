"""Many needles: 1,000 distinct key->value needles built exactly at 128K and 1M tokens,
scored in work linear in the needles, and refused at plan time when they cannot fit."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from niah import scoring
from niah.cli.main import main
from niah.config import Experiment, ScoringSpec, load_experiment
from niah.errors import ConfigError
from niah.haystack.corpus import _encode_chunks
from niah.needles import WORDS, occurs_in
from niah.plan import plan
from niah.tasks.registry import check_task, task_builder

NEEDLE = {"text": "The special magic number for {key} is {value}.", "count": 1000,
          "key": {"kind": "word_pair"}, "value": {"kind": "random_number"}}


def many(length: int, **top: Any) -> Experiment:
    return load_experiment({
        "name": "many", "model": "openai/gpt-4", "tokenizer": "tiktoken:cl100k_base",
        "needles": [NEEDLE], "prompt": {"question": "List all {count} numbers for {keys}."},
        "grid": {"context_lengths": [length], "depth_percents": [0]}, **top})


def check_exact(experiment: Experiment) -> None:
    builder = task_builder(experiment, experiment.model[0])
    trial = plan(experiment)[0]
    bp = builder.build(trial)
    context = bp.context
    ids, starts = _encode_chunks(builder.tokenizer, [context])
    assert len(ids) == bp.context_tokens == trial.context_length  # re-encodes exactly
    keys = [n.key for n in bp.needles]
    values = [n.answer for n in bp.needles]
    assert len(set(keys)) == len(set(values)) == 1000 and None not in keys
    at = 0
    for needle in sorted(bp.needles, key=lambda n: n.token_offset):
        at = context.index(needle.text, at)  # in order, each where its offset says
        byte_at = len(context[:at].encode())
        k = needle.token_offset
        assert starts[k] <= byte_at < (starts[k + 1] if k + 1 < len(starts) else 10**12)
    haystack = context
    for needle in bp.needles:
        haystack = haystack.replace(needle.text, "")
    lower = haystack.encode().lower()
    assert not any(occurs_in(v, lower) or occurs_in(k or "", lower)
                   for k, v in zip(keys, values, strict=True))
    offsets = [n.token_offset for n in bp.needles]
    assert offsets == sorted(offsets) and offsets[-1] > 0.95 * trial.context_length
    assert all(k in bp.question for k in keys) and "1000 numbers" in bp.question


def test_1000_needles_at_128k_build_exactly() -> None:
    check_exact(many(128_000))


@pytest.mark.slow
def test_1000_needles_at_1m_build_exactly() -> None:
    check_exact(many(1_000_000))


def test_scoring_is_linear_in_needles(monkeypatch: pytest.MonkeyPatch) -> None:
    """Work counted, not timed: each answer is normalised once, the reply once, and the
    reply's word runs are made once per answer length, whatever the number of needles."""
    calls = {"words": 0, "runs": 0}
    words, runs = scoring._words, scoring._word_runs

    def counted_words(text: str) -> str:
        calls["words"] += 1
        return words(text)

    def counted_runs(variants: set[str], n: int) -> set[str]:
        calls["runs"] += 1
        return runs(variants, n)

    monkeypatch.setattr(scoring, "_words", counted_words)
    monkeypatch.setattr(scoring, "_word_runs", counted_runs)
    for n in (10, 100, 1000):
        calls.update(words=0, runs=0)
        needles = [type("N", (), {"answer": a})() for a in
                   [f"{1000000 + i}" for i in range(n // 2)] +
                   [f"key-{i} value-{i}" for i in range(n - n // 2)]]
        reply = "\n".join(n.answer for n in needles[::2])
        value, hits = scoring.score(needles, reply, ScoringSpec())
        assert sum(hits) == len(needles[::2]) and value == pytest.approx(sum(hits) / n)
        assert calls["words"] == 2 * (n + 1)  # two readings of digit groups each
        assert calls["runs"] == 1  # one answer length beyond one word (4 words)


def write(tmp_path: Path, needles: Any, lengths: list[int]) -> str:
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({"name": "bad", "model": "scripted/perfect",
                                    "needles": needles,
                                    "grid": {"context_lengths": lengths, "depth_percents": [0]}}))
    return str(path)


SHORT = {"text": "A short one is {value}.", "question": "What is the short one?"}


@pytest.mark.parametrize(("needles", "lengths", "message"), [
    ([SHORT, {**NEEDLE, "count": 300}], [2000, 8000],
     r"needles\[1\]\.count: 301 needles take [\d,]+ tokens of scripted/perfect's tokenizer, "
     r"more than the shortest context \(2,000 tokens\) holds"),
    ([{**NEEDLE, "count": 200, "value": {"kind": "random_word"}}], [50000],
     rf"needles\[0\]\.count: 200 needles but value kind random_word has {len(WORDS)} "
     "distinct values"),
    ([{**NEEDLE, "count": 3, "key": {"kind": "names", "names": ["Oslo", "Rome"]}}], [5000],
     r"needles\[0\]\.count: 3 needles need distinct keys but names give 2"),
    ([{**NEEDLE, "count": 2, "key": {"kind": "names", "names": ["Oslo", "oslo"]}}], [5000],
     r"needles\[0\]\.key\.names: names must be distinct"),
    ([{**NEEDLE, "count": 2, "key": {"kind": "names"}}], [5000],
     r"needles\[0\]\.key: names is required when kind is 'names'"),
    ([{"text": "The number is {value}.", "key": {"kind": "uuid"}}], [5000],
     r"needles\[0\]: text must contain \{key\} when key is drawn"),
])
def test_bad_many_needle_input_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], needles: Any, lengths: list[int],
    message: str,
) -> None:
    assert main(["plan", write(tmp_path, needles, lengths)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert re.match(f"niah: error: {message}", err), err


def test_check_passes_what_fits() -> None:
    check_task(many(32_000))
    with pytest.raises(ConfigError, match=r"^needles\[0\]\.count: 1000 needles take"):
        check_task(many(16_000))


def test_many_needles_run_rescore_and_rebuild_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """A scripted model that recalls about half the needles: per-needle results in the
    row, the score their fraction, ``niah prompt`` rebuilds the same prompt."""
    import json

    from niah.reconstruct import rebuild
    from niah.results import read_rows

    monkeypatch.chdir(tmp_path)
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({
        "name": "many", "tokenizer": "tiktoken:cl100k_base",
        "model": {"id": "scripted/half", "options": {
            "recall": 0.5, "pattern": r"The special magic number for \S+ is (\d+)\."}},
        "needles": [{**NEEDLE, "count": 40}],
        "prompt": {"question": "List all {count} numbers."},
        "grid": {"context_lengths": [2000, 4000], "depth_percents": [0]}}))
    assert main(["run", str(path), "--out", "run"]) == 0
    rows = read_rows(tmp_path / "run")
    assert len(rows) == 2
    for r in rows:
        found = [n.found for n in r.needles]
        assert len(found) == 40 and len({n.key for n in r.needles}) == 40
        assert 5 < sum(bool(f) for f in found) < 35 and r.score == sum(found) / 40
        assert all((n.answer in (r.response or "")) == n.found for n in r.needles)
    assert rebuild(tmp_path / "run", rows[0].trial_id).matches
    assert main(["build", str(path), "--out", "prompts.jsonl"]) == 0
    built = [json.loads(x) for x in (tmp_path / "prompts.jsonl").read_text().splitlines()]
    assert {b["prompt_sha256"] for b in built} == {r.prompt_sha256 for r in rows}
    capsys.readouterr()
