from __future__ import annotations

import asyncio
from typing import Any

import pytest

from niah.backends import create_backend
from niah.backends.base import Message, Request
from niah.backends.scripted import NOT_FOUND, ScriptedBackend
from niah.config import ModelSpec
from niah.errors import ConfigError, ModelError, PermanentModelError, TransientModelError

FILLER = "The grass is green and the sky is blue. "


def backend(**options: Any) -> ScriptedBackend:
    return ScriptedBackend(ModelSpec(id="scripted/test", options=options))


def request(value: str = "7392841", depth: float = 0.5, n: int = 40, **kw: Any) -> Request:
    """A prompt with one needle at ``depth`` of ``n`` filler sentences."""
    at = round(depth * n)
    doc = FILLER * at + f"The special magic number is {value}. " + FILLER * (n - at)
    return Request(
        messages=[
            Message(role="system", content="Answer from the document."),
            Message(role="user", content=f"{doc}\nWhat is the special magic number?"),
        ],
        **kw,
    )


def answer(b: ScriptedBackend, req: Request) -> str:
    return asyncio.run(b.generate(req)).text


def recall_rate(b: ScriptedBackend, depth: float, trials: int = 400) -> float:
    async def run() -> float:
        hits = 0
        for i in range(trials):
            value = str(1_000_000 + i)
            hits += value in (await b.generate(request(value, depth))).text
        return hits / trials

    return asyncio.run(run())


def test_registry_builds_it() -> None:
    assert isinstance(create_backend(ModelSpec(id="scripted/perfect")), ScriptedBackend)


def test_perfect_recall_quotes_the_needle() -> None:
    completion = asyncio.run(backend().generate(request(prompt_tokens=123)))
    assert completion.text == "The special magic number is 7392841."
    assert completion.usage.prompt_tokens == 123
    assert completion.finish_reason == "stop"
    assert completion.raw == {"needles_found": 1, "needles_recalled": 1}


def test_multiple_needles_and_none() -> None:
    req = Request(messages=[Message(role="user", content=(
        "The special magic number is 11. x The special magic number is 22. y"
    ))])
    assert answer(backend(), req) == (
        "The special magic number is 11. The special magic number is 22."
    )
    assert answer(backend(), Request(messages=[Message(role="user", content="nothing")])) == (
        NOT_FOUND
    )


def test_custom_pattern() -> None:
    req = Request(messages=[Message(role="user", content="The best thing is a sandwich. Q?")])
    assert answer(backend(pattern=r"best thing is (.+?)\."), req) == "best thing is a sandwich."


def test_same_request_same_answer_and_seed_changes_it() -> None:
    b = backend(recall=0.5)
    values = [str(v) for v in range(100, 140)]
    answers = [answer(b, request(v)) for v in values]
    assert answers == [answer(backend(recall=0.5), request(v)) for v in values]
    assert answers != [answer(backend(recall=0.5, seed=1), request(v)) for v in values]


def test_recall_fraction_is_roughly_the_option() -> None:
    assert 0.22 <= recall_rate(backend(recall=0.3), depth=0.5) <= 0.38
    assert recall_rate(backend(recall=0.0), depth=0.5) == 0.0


def test_lost_in_the_middle() -> None:
    b = backend(recall=0.9, lost_in_the_middle=True, middle_recall=0.2)
    assert recall_rate(b, depth=0.5) < 0.3
    assert recall_rate(b, depth=0.05) > 0.8
    assert recall_rate(b, depth=0.95) > 0.8


@pytest.mark.parametrize(
    ("kind", "error", "status"),
    [
        ("transient", TransientModelError, 503),
        ("rate_limit", TransientModelError, 429),
        ("permanent", PermanentModelError, 400),
        ("context_length_exceeded", PermanentModelError, 400),
    ],
)
def test_error_kinds(kind: str, error: type[ModelError], status: int) -> None:
    with pytest.raises(error) as info:
        answer(backend(error_rate=1.0, error_kind=kind), request())
    assert (info.value.kind, info.value.status) == (kind, status)


def test_error_rate_is_deterministic_per_request() -> None:
    def fails(b: ScriptedBackend, v: int) -> bool:
        try:
            answer(b, request(str(v)))
        except TransientModelError:
            return True
        return False

    b = backend(error_rate=0.25)
    outcome = [fails(b, v) for v in range(200)]
    assert outcome == [fails(b, v) for v in range(200)]
    assert 30 <= sum(outcome) <= 70


def test_fail_first_n_counts_calls() -> None:
    b = backend(fail_first_n=2)
    for _ in range(2):
        with pytest.raises(TransientModelError, match="failing call"):
            answer(b, request())
    assert "7392841" in answer(b, request())
    assert b.calls == 3


def test_reply_overrides_the_answer() -> None:
    assert answer(backend(reply="forty-two"), request()) == "forty-two"


def test_context_window_rejects_long_prompts() -> None:
    b = backend(context_window=100)
    assert b.context_window() == 100
    with pytest.raises(PermanentModelError) as info:
        answer(b, request(prompt_tokens=101))
    assert info.value.kind == "context_length_exceeded"
    assert "7392841" in answer(b, request(prompt_tokens=100))


def test_latency(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    answer(backend(latency_s=2.5), request())
    assert slept == [2.5]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"recall": 1.5}, r"^model\.options\.recall: "),
        ({"error_kind": "boom"}, r"^model\.options\.error_kind: "),
        ({"pattern": "("}, r"^model\.options\.pattern: invalid regex"),
        ({"typo": 1}, r"^model\.options\.typo: unknown key"),
    ],
)
def test_bad_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        backend(**options)
