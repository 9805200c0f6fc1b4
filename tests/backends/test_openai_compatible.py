"""openai-compatible/MODEL: base_url, optional key, chat and completions modes, timings."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from niah.backends.base import Message, Request, Usage
from niah.backends.openai_compatible import OpenAICompatibleBackend, render_prompt
from niah.config import ModelSpec
from niah.errors import ConfigError, PermanentModelError, TransientModelError
from tests.fakes import FakeOpenAIServer, FaultConfig, ScriptedTransport

pytestmark = pytest.mark.anyio

BASE = "http://127.0.0.1:8080/v1"
REQUEST = Request(
    messages=[
        Message(role="system", content="Answer briefly."),
        Message(role="user", content="The special magic number is 8. What is the number?"),
    ],
    max_tokens=16,
    seed=3,
)
CHAT = {"id": "c1", "choices": [{"message": {"content": "8"}, "finish_reason": "stop"}]}
LLAMA_TIMINGS = {"prompt_n": 120, "prompt_ms": 80.5, "predicted_n": 4, "predicted_ms": 20.1,
                 "cache_n": 100}


def backend(transport: ScriptedTransport, **spec: Any) -> OpenAICompatibleBackend:
    spec.setdefault("base_url", BASE)
    return OpenAICompatibleBackend(
        ModelSpec(id="openai-compatible/qwen2.5-7b", **spec), client=transport.client()
    )


def test_base_url_is_required() -> None:
    with pytest.raises(ConfigError, match=r"^model.base_url: is required"):
        OpenAICompatibleBackend(ModelSpec(id="openai-compatible/m"))


async def test_chat_request_without_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    transport = ScriptedTransport(httpx.Response(200, json=CHAT))
    completion = await backend(transport, options={"body": {"top_k": 1}}).generate(REQUEST)
    sent = transport.requests[0]
    assert str(sent.url) == f"{BASE}/chat/completions"
    assert "authorization" not in sent.headers  # an OpenAI key never goes to other servers
    assert json.loads(sent.content) == {
        "model": "qwen2.5-7b",
        "messages": [{"role": m.role, "content": m.content} for m in REQUEST.messages],
        "temperature": 0.0,
        "max_tokens": 16,
        "seed": 3,
        "top_k": 1,
    }
    assert completion.text == "8"
    assert completion.usage == Usage()  # the server omitted usage
    assert completion.raw is None


async def test_key_from_api_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLLM_KEY", "token-abc")
    transport = ScriptedTransport(httpx.Response(200, json=CHAT))
    await backend(transport, api_key_env="VLLM_KEY").generate(REQUEST)
    assert transport.requests[0].headers["authorization"] == "Bearer token-abc"
    monkeypatch.delenv("VLLM_KEY")
    with pytest.raises(ConfigError, match="environment variable VLLM_KEY is not set"):
        backend(transport, api_key_env="VLLM_KEY")


async def test_completions_mode() -> None:
    body = {"id": "cmpl-1", "choices": [{"text": " 8.", "finish_reason": "length"}],
            "usage": {"prompt_tokens": 30, "completion_tokens": 2}, "timings": LLAMA_TIMINGS}
    transport = ScriptedTransport(httpx.Response(200, json=body))
    completion = await backend(transport, options={"mode": "completions"}).generate(REQUEST)
    assert str(transport.requests[0].url) == f"{BASE}/completions"
    assert transport.body() == {
        "model": "qwen2.5-7b",
        "prompt": "Answer briefly.\n\nThe special magic number is 8. What is the number?",
        "temperature": 0.0,
        "max_tokens": 16,
        "seed": 3,
    }
    assert completion.text == " 8."
    assert completion.finish_reason == "length"
    assert completion.usage == Usage(prompt_tokens=30, completion_tokens=2)
    assert completion.raw == {"timings": LLAMA_TIMINGS}


def test_render_prompt_without_system() -> None:
    assert render_prompt(Request(messages=[Message(role="user", content="q")])) == "q"


def test_invalid_options() -> None:
    with pytest.raises(ConfigError, match=r"^model.options.mode: "):
        backend(ScriptedTransport(), options={"mode": "embeddings"})
    with pytest.raises(ConfigError,
                       match=r"^model.options.top_k: unknown key[^(]*\(fields to send"):
        backend(ScriptedTransport(), options={"top_k": 1})
    for field in ("max_tokens", "prompt", "temperature"):
        with pytest.raises(ConfigError, match=rf"^model.options.body: {field} is set by niah"):
            backend(ScriptedTransport(), options={"body": {field: 5}})


async def test_any_model_takes_a_temperature_and_has_no_known_window() -> None:
    spec = ModelSpec(id="openai-compatible/o3-mini", base_url=BASE)  # a local "o3-mini"
    assert OpenAICompatibleBackend.request_temperature(spec, "auto") == 0.0
    assert OpenAICompatibleBackend.request_temperature(spec, 0.5) == 0.5
    assert OpenAICompatibleBackend.known_window(spec) is None
    transport = ScriptedTransport(httpx.Response(200, json=CHAT))
    b = backend(transport, options={"mode": "completions", "reasoning_effort": "low"})
    await b.generate(REQUEST.model_copy(update={"temperature": None}))
    assert "temperature" not in transport.body() and transport.body()["reasoning_effort"] == "low"


async def test_llama_cpp_context_error_is_permanent() -> None:
    body = {"error": {"code": 400, "type": "exceed_context_size_error",
                      "message": "the request exceeds the available context size"}}
    with pytest.raises(PermanentModelError) as info:
        await backend(ScriptedTransport(httpx.Response(400, json=body))).generate(REQUEST)
    assert info.value.kind == "context_length_exceeded"
    assert str(info.value).startswith("openai-compatible 400: the request exceeds")


async def test_against_the_fake_server() -> None:
    script = [None, None, "drop", "empty_choices", "slow"]
    with FakeOpenAIServer(FaultConfig(script=script, slow_delay_s=30)) as srv:
        spec = ModelSpec(id="openai-compatible/base", base_url=srv.base_url,
                         options={"mode": "completions"})
        owned = OpenAICompatibleBackend(spec)  # creates and closes its own client
        assert (await owned.generate(REQUEST)).text == "The special magic number is 8."
        await owned.aclose()
        assert owned._client is None and not owned._owned  # every client it made is closed
        chat_spec = spec.model_copy(update={"options": {}})
        async with httpx.AsyncClient() as client, httpx.AsyncClient(timeout=0.2) as impatient:
            b = OpenAICompatibleBackend(chat_spec, client)
            assert (await b.generate(REQUEST)).text == "The special magic number is 8."
            for kind in ("connection", "bad_response"):
                with pytest.raises(TransientModelError) as info:
                    await b.generate(REQUEST)
                assert info.value.kind == kind
            with pytest.raises(TransientModelError) as slow:
                await OpenAICompatibleBackend(chat_spec, impatient).generate(REQUEST)
            assert slow.value.kind == "timeout"
        assert [r.path for r in srv.requests[:2]] == ["/v1/completions", "/v1/chat/completions"]


async def test_one_client_per_request_in_flight_reused_and_closed() -> None:
    with FakeOpenAIServer() as srv:
        backend = OpenAICompatibleBackend(ModelSpec(id="openai-compatible/m",
                                                    base_url=srv.base_url))
        await asyncio.gather(*(backend.generate(REQUEST) for _ in range(4)))
        clients = list(backend._idle)
        assert len(clients) == 4  # four in flight: four keep-alive connections
        for _ in range(3):
            await backend.generate(REQUEST)
        assert set(map(id, backend._idle)) == set(map(id, clients))  # reused, not new
        assert len({id(c._transport._pool._ssl_context) for c in clients}) == 1  # type: ignore[attr-defined]
        await backend.aclose()
        assert all(c.is_closed for c in clients) and not backend._idle
