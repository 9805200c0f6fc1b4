"""anthropic/MODEL: Messages API shape, cache-aware usage, overloaded errors, a real socket."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from niah.backends.anthropic import AnthropicBackend
from niah.backends.base import Message, Request, Usage
from niah.config import ModelSpec, RunSpec
from niah.errors import ConfigError, ModelError, PermanentModelError, TransientModelError
from tests.fakes import FakeOpenAIServer, FaultConfig, ScriptedTransport

pytestmark = pytest.mark.anyio

KEY = "sk-ant-api03-test-0123456789"
REQUEST = Request(
    messages=[
        Message(role="system", content="Use only the document."),
        Message(role="user", content="The special magic number is 555. What is it?"),
    ],
    max_tokens=50,
    temperature=0.5,
    seed=11,
)
RESPONSE = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
    "type": "message",
    "role": "assistant",
    "model": "claude-3-5-haiku-20241022",
    "content": [
        {"type": "thinking", "thinking": "hmm", "signature": "s"},
        {"type": "text", "text": "The number "},
        {"type": "text", "text": "is 555."},
    ],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 10, "output_tokens": 6, "cache_read_input_tokens": 2000,
              "cache_creation_input_tokens": 300},
}


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)


def backend(transport: ScriptedTransport, **spec: Any) -> AnthropicBackend:
    return AnthropicBackend(ModelSpec(id="anthropic/claude-3-5-haiku-latest", **spec),
                            client=transport.client())


async def test_request_shape() -> None:
    transport = ScriptedTransport(httpx.Response(200, json=RESPONSE))
    await backend(transport).generate(REQUEST)
    sent = transport.requests[0]
    assert str(sent.url) == "https://api.anthropic.com/v1/messages"
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["content-type"] == "application/json"
    assert "authorization" not in sent.headers
    assert json.loads(sent.content) == {
        "model": "claude-3-5-haiku-latest",
        "max_tokens": 50,
        "system": "Use only the document.",
        "messages": [
            {"role": "user", "content": "The special magic number is 555. What is it?"}
        ],
        "temperature": 0.5,
    }  # no seed: the API has none


async def test_without_system_and_with_options() -> None:
    transport = ScriptedTransport(httpx.Response(200, json=RESPONSE))
    b = backend(transport, base_url="http://127.0.0.1:9/v1", options={"body": {"top_k": 1}})
    await b.generate(Request(messages=REQUEST.messages[1:]))
    assert str(transport.requests[0].url) == "http://127.0.0.1:9/v1/messages"
    assert "system" not in transport.body()
    assert transport.body()["top_k"] == 1


async def test_thinking_and_effort_options() -> None:
    transport = ScriptedTransport(httpx.Response(200, json=RESPONSE))
    b = backend(transport, options={"thinking_budget": 2048, "effort": "low"})
    await b.generate(REQUEST.model_copy(update={"temperature": None, "max_tokens": 4096}))
    body = transport.body()
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["output_config"] == {"effort": "low"}
    assert body["max_tokens"] == 4096 and "temperature" not in body
    for bad, message in [({"thinking_budget": 512}, r"^model\.options\.thinking_budget: "),
                         ({"body": {"thinking": {}}}, r"^model\.options\.body: thinking is set"),
                         ({"top_k": 1}, r"^model\.options\.top_k: unknown key[^(]*\(fields to")]:
        with pytest.raises(ConfigError, match=message):
            backend(transport, options=bad)


@pytest.mark.parametrize(
    ("name", "options", "auto"),
    [
        ("claude-3-5-haiku-latest", {}, 0.0),
        ("claude-3-7-sonnet-20250219", {}, 0.0),
        ("claude-sonnet-4-20250514", {}, 0.0),
        ("claude-haiku-4-5", {}, 0.0),
        ("claude-sonnet-4-6", {}, 0.0),
        ("claude-sonnet-4-6", {"thinking_budget": 2048}, None),
        ("claude-opus-4-7", {}, None),
        ("claude-opus-5", {}, None),
        ("claude-sonnet-5", {"effort": "low"}, None),
        ("claude-opus-5-5", {}, None),
    ],
)
def test_temperature_per_model_family(name: str, options: dict[str, Any],
                                      auto: float | None) -> None:
    spec = ModelSpec(id=f"anthropic/{name}", options=options)
    assert AnthropicBackend.request_temperature(spec, "auto") == auto
    if auto is None:
        with pytest.raises(ConfigError, match=rf"^run\.temperature: anthropic/{name} takes no "
                                              r"temperature \(.*\); use auto or null$"):
            AnthropicBackend.request_temperature(spec, 0.2)
    else:
        assert AnthropicBackend.request_temperature(spec, 0.2) == 0.2


def test_a_thinking_budget_must_leave_room_and_suit_the_model() -> None:
    thinking = ModelSpec(id="anthropic/claude-sonnet-4-5", options={"thinking_budget": 1024})
    AnthropicBackend.check_model(thinking, RunSpec(max_tokens=2048))
    with pytest.raises(ConfigError) as info:
        AnthropicBackend.check_model(thinking, RunSpec(max_tokens=1024))
    assert str(info.value) == ("model.options.thinking_budget: 1024 must be below "
                               "run.max_tokens (1024), which counts thinking and answer together")
    adaptive = ModelSpec(id="anthropic/claude-opus-4-7", options={"thinking_budget": 2048})
    with pytest.raises(ConfigError, match="thinks adaptively and refuses a thinking budget"):
        AnthropicBackend.check_model(adaptive, RunSpec(max_tokens=8192))


async def test_response_parsing_counts_cached_prompt_tokens() -> None:
    completion = await backend(ScriptedTransport(httpx.Response(200, json=RESPONSE))).generate(
        REQUEST
    )
    assert completion.text == "The number is 555."
    assert completion.finish_reason == "end_turn"
    assert completion.provider_id == "msg_01XFDUDYJgAACzvnptvVoYEL"
    assert completion.usage == Usage(prompt_tokens=2310, completion_tokens=6, cached_tokens=2000,
                                     cache_write_tokens=300)


async def test_usage_without_cache_fields() -> None:
    body = {**RESPONSE, "usage": {"input_tokens": 10, "output_tokens": 6}}
    completion = await backend(ScriptedTransport(httpx.Response(200, json=body))).generate(
        REQUEST
    )
    assert completion.usage == Usage(prompt_tokens=10, completion_tokens=6)


@pytest.mark.parametrize(
    ("status", "error_type", "message", "cls", "kind"),
    [
        (529, "overloaded_error", "Overloaded", TransientModelError, "server_error"),
        (429, "rate_limit_error", "Number of request tokens has exceeded your rate limit",
         TransientModelError, "rate_limit"),
        (500, "api_error", "Internal server error", TransientModelError, "server_error"),
        (400, "invalid_request_error", "prompt is too long: 208389 tokens > 200000 maximum",
         PermanentModelError, "context_length_exceeded"),
        (400, "invalid_request_error", "max_tokens: field required", PermanentModelError,
         "bad_request"),
        (401, "authentication_error", "invalid x-api-key", PermanentModelError, "auth"),
        (403, "permission_error", "no access", PermanentModelError, "auth"),
        (404, "not_found_error", "model: claude-9", PermanentModelError, "not_found"),
    ],
)
async def test_error_bodies(
    status: int, error_type: str, message: str, cls: type[ModelError], kind: str
) -> None:
    body = {"type": "error", "error": {"type": error_type, "message": message}}
    with pytest.raises(cls) as info:
        await backend(ScriptedTransport(httpx.Response(status, json=body))).generate(REQUEST)
    assert info.value.kind == kind
    assert str(info.value) == f"anthropic {status}: {message}"


@pytest.mark.parametrize(
    ("content", "stop_reason"),
    [
        ([{"type": "thinking", "thinking": "Let me look...", "signature": "s"}], "max_tokens"),
        ([], "max_tokens"),
        ([], "end_turn"),  # documented: an empty end_turn reply happens
    ],
)
async def test_a_message_without_text_is_an_empty_answer(
    content: list[Any], stop_reason: str
) -> None:
    body = {**RESPONSE, "content": content, "stop_reason": stop_reason,
            "usage": {"input_tokens": 10, "output_tokens": 50}}
    completion = await backend(ScriptedTransport(httpx.Response(200, json=body))).generate(
        REQUEST
    )
    assert (completion.text, completion.finish_reason) == ("", stop_reason)
    assert completion.usage.completion_tokens == 50


@pytest.mark.parametrize(
    "body",
    [{**RESPONSE, "content": [], "stop_reason": None},
     {k: v for k, v in RESPONSE.items() if k != "content"},
     {**RESPONSE, "content": "It is 555."}],
)
async def test_a_message_without_content_blocks_is_a_bad_response(body: dict[str, Any]) -> None:
    with pytest.raises(TransientModelError) as info:
        await backend(ScriptedTransport(httpx.Response(200, json=body))).generate(REQUEST)
    assert info.value.kind == "bad_response"


async def test_refusal_is_permanent() -> None:
    refused = {**RESPONSE, "stop_reason": "refusal"}
    with pytest.raises(PermanentModelError) as refusal:
        await backend(ScriptedTransport(httpx.Response(200, json=refused))).generate(REQUEST)
    assert refusal.value.kind == "content_filtered"


def test_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(ConfigError) as info:
        AnthropicBackend(ModelSpec(id="anthropic/claude"))
    assert str(info.value) == (
        "model.api_key_env: environment variable ANTHROPIC_API_KEY is not set"
    )


async def test_against_the_fake_server() -> None:
    script = [None, "overloaded", "context_length", "drop", "slow"]
    faults = FaultConfig(script=script, slow_delay_s=30)
    with FakeOpenAIServer(faults, style="anthropic", echo_headers=True, api_key=KEY) as srv:
        async with httpx.AsyncClient() as client, httpx.AsyncClient(timeout=0.2) as impatient:
            spec = ModelSpec(id="anthropic/claude-test", base_url=srv.base_url)
            b = AnthropicBackend(spec, client)
            completion = await b.generate(REQUEST)
            assert completion.text == "The special magic number is 555."
            assert completion.usage.prompt_tokens == 13  # words of system + user
            expected = [(TransientModelError, "server_error"),
                        (PermanentModelError, "context_length_exceeded"),
                        (TransientModelError, "connection"), (TransientModelError, "timeout")]
            for cls, kind in expected:
                with pytest.raises(cls) as info:  # only the slow reply meets the short timeout
                    await (AnthropicBackend(spec, impatient) if kind == "timeout" else b).generate(
                        REQUEST
                    )
                assert info.value.kind == kind
                assert KEY not in str(info.value)  # the fake echoes x-api-key into errors
        assert srv.requests[0].headers["anthropic-version"] == "2023-06-01"
