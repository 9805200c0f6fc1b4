"""openai/MODEL: request shape, parsing, errors, and a real socket to the fake server."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from niah.backends.base import Message, Request, Usage
from niah.backends.openai import OpenAIBackend
from niah.config import ModelSpec
from niah.errors import ConfigError, PermanentModelError, TransientModelError
from tests.fakes import FakeOpenAIServer, FaultConfig, ScriptedTransport

pytestmark = pytest.mark.anyio

KEY = "sk-proj-test-abcdef0123456789"
REQUEST = Request(
    messages=[
        Message(role="system", content="Be brief."),
        Message(role="user", content="The special magic number is 31337. What is it?"),
    ],
    max_tokens=32,
    temperature=0.0,
    seed=7,
)
RESPONSE = {
    "id": "chatcmpl-123",
    "object": "chat.completion",
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "It is 31337.", "refusal": None},
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 1200,
        "completion_tokens": 5,
        "total_tokens": 1205,
        "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
    },
}


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def backend(transport: ScriptedTransport, **spec: Any) -> OpenAIBackend:
    return OpenAIBackend(ModelSpec(id="openai/gpt-4o-mini", **spec), client=transport.client())


async def test_request_shape() -> None:
    transport = ScriptedTransport(httpx.Response(200, json=RESPONSE))
    await backend(transport).generate(REQUEST)
    sent = transport.requests[0]
    assert sent.method == "POST"
    assert str(sent.url) == "https://api.openai.com/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["content-type"] == "application/json"
    assert json.loads(sent.content) == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "The special magic number is 31337. What is it?"},
        ],
        "temperature": 0.0,
        "max_completion_tokens": 32,
        "seed": 7,
    }


async def test_no_seed_no_seed_field_and_base_url_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZ_KEY", "other-key")
    transport = ScriptedTransport(httpx.Response(200, json=RESPONSE))
    b = backend(transport, base_url="https://proxy.example/v1/", api_key_env="AZ_KEY")
    await b.generate(Request(messages=REQUEST.messages))
    assert str(transport.requests[0].url) == "https://proxy.example/v1/chat/completions"
    assert transport.requests[0].headers["authorization"] == "Bearer other-key"
    assert "seed" not in transport.body()


async def test_response_parsing() -> None:
    transport = ScriptedTransport(httpx.Response(200, json=RESPONSE))
    completion = await backend(transport).generate(REQUEST)
    assert completion.text == "It is 31337."
    assert completion.finish_reason == "stop"
    assert completion.provider_id == "chatcmpl-123"
    assert completion.usage == Usage(prompt_tokens=1200, completion_tokens=5, cached_tokens=1024)
    assert completion.latency_s is None


async def test_missing_usage_and_null_content() -> None:
    body = {"choices": [{"message": {"role": "assistant", "content": None},
                         "finish_reason": "length"}]}
    completion = await backend(ScriptedTransport(httpx.Response(200, json=body))).generate(
        REQUEST
    )
    assert completion.text == ""
    assert completion.finish_reason == "length"
    assert completion.usage == Usage()


async def test_content_filter_is_permanent() -> None:
    body = {"choices": [{"message": {"content": None}, "finish_reason": "content_filter"}]}
    with pytest.raises(PermanentModelError) as info:
        await backend(ScriptedTransport(httpx.Response(200, json=body))).generate(REQUEST)
    assert info.value.kind == "content_filtered"


async def test_named_options_and_body_pass_through() -> None:
    transport = ScriptedTransport(httpx.Response(200, json=RESPONSE))
    options = {"reasoning_effort": "low", "verbosity": "low", "body": {"service_tier": "flex"}}
    await backend(transport, options=options).generate(REQUEST)
    body = transport.body()
    assert (body["reasoning_effort"], body["verbosity"], body["service_tier"]) == (
        "low", "low", "flex")
    assert list(body)[:5] == ["model", "messages", "temperature", "max_completion_tokens", "seed"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"temperature": 1}, r"^model\.options\.temperature: unknown key[^(]*\(fields to send as "
                             r"they are go under model\.options\.body\)$"),
        ({"reasoning_effort": "extreme"}, r"^model\.options\.reasoning_effort: Input should be"),
        ({"body": {"temperature": 1}},
         r"^model\.options\.body: temperature is set by niah from the run settings or a named "
         r"option; remove it$"),
        ({"body": {"reasoning_effort": "low"}}, r"^model\.options\.body: reasoning_effort is set"),
        ({"body": "top_p=1"}, r"^model\.options\.body: "),
    ],
)
def test_bad_options_are_one_line_config_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        backend(ScriptedTransport(), options=options)


async def test_a_request_without_temperature_sends_none() -> None:
    transport = ScriptedTransport(httpx.Response(200, json=RESPONSE))
    await backend(transport).generate(REQUEST.model_copy(update={"temperature": None}))
    assert "temperature" not in transport.body()


@pytest.mark.parametrize(
    ("name", "options", "auto"),
    [
        ("gpt-4o-mini", {}, 0.0),
        ("gpt-4.1-2025-04-14", {}, 0.0),
        ("gpt-5-chat-latest", {}, 0.0),
        ("gpt-5.1", {"reasoning_effort": "none"}, 0.0),
        ("o1", {}, None),
        ("o3-mini", {"reasoning_effort": "low"}, None),
        ("o4-mini-2025-04-16", {}, None),
        ("gpt-5", {}, None),
        ("gpt-5-nano", {"reasoning_effort": "minimal"}, None),
        ("gpt-5.1", {}, None),
        ("gpt-5.2-2025-12-11", {"reasoning_effort": "low"}, None),
    ],
)
def test_temperature_per_model_family(name: str, options: dict[str, Any],
                                      auto: float | None) -> None:
    spec = ModelSpec(id=f"openai/{name}", options=options)
    assert OpenAIBackend.request_temperature(spec, "auto") == auto
    assert OpenAIBackend.request_temperature(spec, None) is None
    if auto is None:  # reasoning models: a number is refused before anything runs
        with pytest.raises(ConfigError) as info:
            OpenAIBackend.request_temperature(spec, 0.0)
        assert str(info.value) == (
            f"run.temperature: openai/{name} takes no temperature (OpenAI reasoning models "
            "accept only their default); use auto or null")
    else:
        assert OpenAIBackend.request_temperature(spec, 0.7) == 0.7


async def test_a_reasoning_model_that_spent_its_budget_thinking_is_an_empty_answer() -> None:
    body = {"id": "chatcmpl-r", "choices": [{"index": 0, "finish_reason": "length",
                                            "message": {"role": "assistant", "content": ""}}],
            "usage": {"prompt_tokens": 900, "completion_tokens": 64,
                      "completion_tokens_details": {"reasoning_tokens": 64}}}
    transport = ScriptedTransport(httpx.Response(200, json=body))
    b = OpenAIBackend(ModelSpec(id="openai/o4-mini"), client=transport.client())
    request = REQUEST.model_copy(update={"temperature": None})
    completion = await b.generate(request)
    assert (completion.text, completion.finish_reason) == ("", "length")
    assert completion.usage == Usage(prompt_tokens=900, completion_tokens=64)
    sent = transport.body()
    assert "temperature" not in sent and sent["max_completion_tokens"] == 32


async def test_a_refusal_is_permanent() -> None:
    body = {"choices": [{"finish_reason": "stop",
                         "message": {"content": None, "refusal": "I can't help with that."}}]}
    with pytest.raises(PermanentModelError) as info:
        await backend(ScriptedTransport(httpx.Response(200, json=body))).generate(REQUEST)
    assert info.value.kind == "content_filtered"
    assert "I can't help with that." in str(info.value)


def test_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ConfigError) as info:
        OpenAIBackend(ModelSpec(id="openai/gpt-4o-mini"))
    assert str(info.value) == "model.api_key_env: environment variable OPENAI_API_KEY is not set"


async def test_key_is_redacted_from_echoed_headers() -> None:
    with FakeOpenAIServer(FaultConfig(script=["unauthorized", "server_error"]),
                          echo_headers=True) as srv:
        b = OpenAIBackend(ModelSpec(id="openai/gpt-4o-mini", base_url=srv.base_url))
        for cls in (PermanentModelError, TransientModelError):
            with pytest.raises(cls) as info:
                await b.generate(REQUEST)
            assert KEY not in str(info.value)
            assert "***" in str(info.value)
        await b.aclose()


async def test_against_the_fake_server() -> None:
    script = [None, "rate_limit", "drop", "slow"]
    with FakeOpenAIServer(FaultConfig(script=script, slow_delay_s=30), api_key=KEY) as srv:
        async with httpx.AsyncClient() as client, httpx.AsyncClient(timeout=0.2) as impatient:
            spec = ModelSpec(id="openai/gpt-4o-mini", base_url=srv.base_url)
            b = OpenAIBackend(spec, client)
            completion = await b.generate(REQUEST)
            assert completion.text == "The special magic number is 31337."
            assert completion.usage.prompt_tokens == sum(
                len(m.content.split()) for m in REQUEST.messages
            )
            with pytest.raises(TransientModelError) as limited:
                await b.generate(REQUEST)
            assert (limited.value.kind, limited.value.retry_after) == ("rate_limit", 0.01)
            with pytest.raises(TransientModelError) as dropped:
                await b.generate(REQUEST)
            assert dropped.value.kind == "connection"
            with pytest.raises(TransientModelError) as slow:
                await OpenAIBackend(spec, impatient).generate(REQUEST)
            assert slow.value.kind == "timeout"
        assert srv.stats["requests"] == 4
