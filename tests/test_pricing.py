from __future__ import annotations

import pytest

from niah.config import Experiment, ModelSpec, Price, load_experiment
from niah.haystack.builder import BuiltPrompt, PromptBuilder
from niah.plan import Trial, plan
from niah.pricing import BUILTIN, builtin_price, cost, estimate, price_for


def spec(model_id: str) -> ModelSpec:
    return ModelSpec(id=model_id)


@pytest.mark.parametrize(
    ("model_id", "expected"),
    [
        ("openai/gpt-4o", (2.50, 10.00)),
        ("openai/gpt-4o-2024-08-06", (2.50, 10.00)),
        ("openai/gpt-4o-mini", (0.15, 0.60)),
        ("openai/gpt-4o-mini-2024-07-18", (0.15, 0.60)),
        ("openai/gpt-4.1-nano", (0.10, 0.40)),
        ("openai/o4-mini", (1.10, 4.40)),
        ("anthropic/claude-3-5-haiku-20241022", (0.80, 4.00)),
        ("anthropic/claude-sonnet-4-20250514", (3.00, 15.00)),
        ("anthropic/claude-opus-4-1-20250805", (15.00, 75.00)),
        ("gemini/gemini-2.5-flash", (0.30, 2.50)),
        ("gemini/models/gemini-1.5-pro-002", (1.25, 5.00)),
    ],
)
def test_builtin_prices_match_the_longest_known_name(
    model_id: str, expected: tuple[float, float]
) -> None:
    price = price_for(spec(model_id))
    assert price is not None
    assert (price.input, price.output) == expected


def test_long_prompts_use_the_long_context_tier() -> None:
    pro = spec("gemini/gemini-1.5-pro")
    short, long = price_for(pro, prompt_tokens=128_000), price_for(pro, prompt_tokens=128_001)
    assert short is not None and long is not None
    assert (short.input, long.input) == (1.25, 2.50)


def test_local_models_are_free_and_unknown_ones_unpriced() -> None:
    assert price_for(spec("llamacpp/smollm2-135m")) == Price(input=0, output=0)
    assert price_for(spec("scripted/perfect")) == Price(input=0, output=0)
    assert price_for(spec("openai-compatible/llama-3-8b")) is None
    assert price_for(spec("openai/gpt-9-turbo")) is None
    assert builtin_price(spec("openai/gpt-4oops")) is None  # a prefix must end at a dash


def test_config_overrides_win() -> None:
    override = {"openai/gpt-4o": Price(input=1.0, output=2.0)}
    assert price_for(spec("openai/gpt-4o"), override) == Price(input=1.0, output=2.0)
    local = {"openai-compatible/mine": Price(input=0.5, output=0.5)}
    assert price_for(spec("openai-compatible/mine"), local) == Price(input=0.5, output=0.5)


def test_cost_charges_cached_tokens_at_the_cached_rate() -> None:
    price = Price(input=2.0, output=10.0, cached_input=0.5)
    assert cost(price, 1_000_000, 100_000) == pytest.approx(2.0 + 1.0)
    assert cost(price, 1_000_000, 0, cached_tokens=400_000) == pytest.approx(1.2 + 0.2)
    no_cache_rate = Price(input=2.0, output=10.0)
    assert cost(no_cache_rate, 1_000_000, 0, cached_tokens=400_000) == pytest.approx(2.0)
    assert cost(price, 10, 0, cached_tokens=50) == pytest.approx(10 * 0.5 / 1e6)  # clamped
    assert cost(None, 10, 10) is None


def test_every_builtin_price_is_sane() -> None:
    for table in BUILTIN.values():
        for entry in table.values():
            assert 0 < entry.base.input <= entry.base.output
            if entry.long is not None:
                assert entry.above and entry.long.input >= entry.base.input


class CountingBuilder:
    def __init__(self, experiment: Experiment) -> None:
        self.inner = PromptBuilder(experiment, experiment.model[0])
        self.model = self.inner.model
        self.builds = 0

    def build(self, trial: Trial) -> BuiltPrompt:
        self.builds += 1
        return self.inner.build(trial)


def test_estimate_builds_one_prompt_per_length_and_sends_nothing() -> None:
    experiment = load_experiment({
        "name": "est",
        "model": "openai/gpt-4o-mini",
        "tokenizer": "tiktoken:cl100k_base",
        "needles": [{"text": "The special magic number is {value}.", "question": "What is it?"}],
        "grid": {"context_lengths": [300, 600], "depth_percents": [0, 50, 100], "repeats": 2},
        "run": {"max_tokens": 50},
    })
    trials = plan(experiment)
    builder = CountingBuilder(experiment)
    result = estimate(experiment, trials, builder)
    assert builder.builds == 2
    overhead = builder.inner.build(trials[0]).prompt_tokens - 300
    assert result.trials == 12
    assert result.prompt_tokens == 6 * (300 + overhead) + 6 * (600 + overhead)
    assert result.max_output_tokens == 12 * 50
    assert result.cost_usd == pytest.approx(
        (result.prompt_tokens * 0.15 + result.max_output_tokens * 0.60) / 1e6
    )
    unpriced = experiment.model_copy(update={"model": [spec("openai-compatible/x")]})
    assert estimate(unpriced, trials, builder, unpriced.model[0]).cost_usd is None


def test_cost_charges_cache_writes_and_reads_apart() -> None:
    from niah.pricing import cache_savings

    price = Price(input=3.0, output=15.0, cached_input=0.3, cache_write=3.75)
    # 10K prompt tokens: 6K read, 3K written, 1K fresh; 100 out
    assert cost(price, 10_000, 100, 6000, 3000) == pytest.approx(
        (1000 * 3 + 6000 * 0.3 + 3000 * 3.75 + 100 * 15) / 1e6)
    assert cache_savings(price, 10_000, 6000, 3000) == pytest.approx(
        (6000 * 2.7 - 3000 * 0.75) / 1e6)
    assert cache_savings(price, 10_000, 0, 5000) < 0  # a write nobody read costs
    assert cost(Price(input=1.0, output=1.0), 100, 0, 50, 50) == pytest.approx(100 / 1e6)
    assert cache_savings(None, 100, 50) is None


def test_claude_prices_cache_reads_and_writes_as_documented() -> None:
    for name in ("claude-sonnet-4-5", "claude-opus-4-5", "claude-3-5-haiku-latest"):
        price = price_for(ModelSpec(id=f"anthropic/{name}"))
        assert price is not None and price.cached_input is not None
        assert price.cached_input == pytest.approx(price.input * 0.1)
        assert price.cache_write == pytest.approx(price.input * 1.25)


def test_a_cascade_pays_its_text_models_price() -> None:
    # the transcriber runs here, free; the text model is priced as itself
    assert price_for(ModelSpec(id="ocr+llamacpp/smollm2-135m")) == Price(input=0.0, output=0.0)
    hosted = price_for(ModelSpec(id="asr+openai/gpt-4o-mini"))
    assert hosted is not None and hosted == price_for(ModelSpec(id="openai/gpt-4o-mini"))
    assert hosted.input > 0
