"""Provider prompt caching: where requests are cut and marked, what they should save."""

from __future__ import annotations

from typing import Any

import pytest

from niah import load_experiment, plan
from niah.exchange import make_request, make_row
from niah.haystack.builder import PromptBuilder
from niah.plan import prefix_order
from niah.pricing import estimate
from niah.prompt import CACHE_BLOCK_TOKENS
from niah.prompt_cache import cache_hint, marked_levels, predicted_usage

NEEDLE = {"text": "The special magic number is {value}.",
          "question": "What is the special magic number?"}


def _experiment(model: str = "anthropic/claude-sonnet-4-5", **run: Any) -> Any:
    return load_experiment({
        "name": "pc", "model": model, "needles": [NEEDLE], "tokenizer": "tiktoken:cl100k_base",
        "grid": {"context_lengths": [6000, 12000], "depth_percents": [0, 40, 80, 100]},
        "run": run,
    })


@pytest.fixture(scope="module")
def built() -> tuple[Any, list[Any]]:
    exp = _experiment()
    builder = PromptBuilder(exp)
    return exp, [builder.build(t) for t in prefix_order(plan(exp))]


def test_cuts_lie_before_the_first_needle_and_are_the_same_text_everywhere(
    built: tuple[Any, list[Any]],
) -> None:
    _, prompts = built
    text_at: dict[int, str] = {}
    for bp in prompts:
        content = bp.messages[-1]["content"]
        first_needle = min(content.index(n.text, bp.context_span[0]) for n in bp.needles)
        for k, offset in bp.cache_cuts:
            assert offset <= first_needle
            assert content[offset] == " "  # a word start (" word") begins the block
            text_at.setdefault(k, content[:offset])
            assert content[:offset] == text_at[k]
    deepest = max(prompts, key=lambda bp: len(bp.cache_cuts))
    assert len(deepest.cache_cuts) == (12000 * 100 // 100 - 300) // CACHE_BLOCK_TOKENS


def test_context_is_a_span_of_the_user_message(built: tuple[Any, list[Any]]) -> None:
    for bp in built[1]:
        start, end = bp.context_span
        assert bp.messages[-1]["content"][start:end] == bp.context
        assert len(bp.context) == end - start


def test_marks_read_own_level_and_write_where_later_trials_read(
    built: tuple[Any, list[Any]],
) -> None:
    exp, prompts = built
    hints = [make_request(exp, bp, exp.model[0]).cache for bp in prompts]
    assert hints[0] is not None and hints[0].marks
    written: set[str] = set()  # the prefixes each request marks (so writes)
    for bp, hint in zip(prompts, hints, strict=True):
        content = bp.messages[-1]["content"]
        if hint is None:
            continue
        assert len(hint.marks) <= 4 and set(hint.marks) <= set(hint.cuts)
        assert list(hint.cuts) == sorted(hint.cuts)
        own = hint.marks[-1]
        if bp is not prompts[0]:
            assert content[:own] in written  # an earlier request wrote what this one reads
        written.update(content[:m] for m in hint.marks)
    assert all(h is None for bp, h in zip(prompts, hints, strict=True) if not bp.cache_cuts)


def test_levels_marked() -> None:
    levels = [40, 38, 30, 22, 20, 9, 5, 0]
    assert marked_levels(levels, 0, 40, 1, 1) == [40, 38, 30, 22]
    assert marked_levels(levels, 0, 40, 4, 1) == [40, 38, 20, 9]  # next, +c, (+2c), +c+1
    assert marked_levels(levels, 6, 5, 1, 1) == [5]  # reads; nobody later reads more
    assert marked_levels([7], 0, 7, 1, 1) == []  # alone: a write nobody reads
    assert marked_levels(levels, 1, 38, 1, 30) == [38, 30]  # the model's minimum


def test_prompt_cache_off_and_other_providers_send_no_marks() -> None:
    for exp in (_experiment(prompt_cache="off"), _experiment("scripted/perfect"),
                _experiment("openai-compatible/m")):
        bp = PromptBuilder(exp).build(prefix_order(plan(exp))[0])
        assert cache_hint(exp, exp.model[0], bp) is None


def test_openai_key_per_experiment_and_length() -> None:
    exp = _experiment("openai/gpt-4.1")
    builder = PromptBuilder(exp)
    keys = {t.context_length: cache_hint(exp, exp.model[0], builder.build(t))
            for t in plan(exp)}
    assert keys[6000] is not None and keys[12000] is not None
    assert keys[6000].key != keys[12000].key
    assert keys[6000].key.startswith("niah-") and not keys[6000].marks
    again = cache_hint(_experiment("openai/gpt-4.1"), exp.model[0], builder.build(plan(exp)[0]))
    assert again == keys[6000]  # stable across processes: the experiment's fingerprint


def test_row_prices_reads_and_writes(built: tuple[Any, list[Any]]) -> None:
    from niah.backends.base import Completion, Usage

    exp, prompts = built
    bp = prompts[0]
    completion = Completion(text="The special magic number is 1.", usage=Usage(
        prompt_tokens=10_000, completion_tokens=10, cached_tokens=6000, cache_write_tokens=3000))
    row = make_row(exp, exp.model[0], PromptBuilder(exp).tokenizer, bp.trial, bp, completion,
                   None, 1, False)
    # Sonnet 4.5: $3 input, $3.75 write, $0.30 read, $15 output per MTok
    assert row.cost_usd == pytest.approx((1000 * 3 + 3000 * 3.75 + 6000 * 0.30 + 10 * 15) / 1e6)
    assert row.cache_savings_usd == pytest.approx((6000 * 2.70 - 3000 * 0.75) / 1e6)
    assert row.usage.cache_write_tokens == 3000


def test_plan_estimate_with_the_cache_is_cheaper_and_simulated() -> None:
    exp = _experiment()
    builder = PromptBuilder(exp)
    est = estimate(exp, plan(exp), builder)
    assert est.cost_usd is not None and est.cached_cost_usd is not None
    assert est.cached_cost_usd < est.cost_usd
    ordered = prefix_order(plan(exp))
    built = {t.context_length: builder.build(t) for t in ordered}
    usage = predicted_usage(exp, exp.model[0], ordered, built)
    assert usage is not None and usage[0][0] == 0 and usage[0][1] > 0  # first: a write
    assert any(read > 0 for read, _ in usage[1:])
    assert predicted_usage(_experiment(prompt_cache="off"), exp.model[0], ordered, built) is None


def test_a_run_sends_marked_blocks_over_a_real_socket(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from niah.analysis import load_results
    from niah.runner import run
    from tests.fakes import FakeOpenAIServer

    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key-0123456789")
    with FakeOpenAIServer(style="anthropic") as srv:
        exp = load_experiment({
            "name": "pc", "needles": [NEEDLE], "tokenizer": "tiktoken:cl100k_base",
            "model": {"id": "anthropic/claude-sonnet-4-5", "base_url": srv.base_url},
            "grid": {"context_lengths": [6000, 12000], "depth_percents": [0, 40, 80, 100]},
            "run": {"concurrency": 2, "cache": False},
        })
        run_dir = run(exp, tmp_path / "run", fresh=True)
        bodies = [r.body for r in srv.requests]
    marked = [b for b in bodies if isinstance(b["messages"][0]["content"], list)]
    assert marked and all(
        1 <= sum("cache_control" in block for block in b["messages"][0]["content"]) <= 4
        for b in marked)
    df = load_results(run_dir)
    assert (df["score"] == 1.0).all()  # the blocks carry the whole prompt: needles found
    assert df["cache_savings_usd"].notna().all()
