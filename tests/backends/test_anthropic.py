"""anthropic/MODEL: Messages API shape, cache-aware usage, overloaded errors, a real socket."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from niah.backends.anthropic import AnthropicBackend
from niah.backends.base import Message, Request, Usage
from niah.config import ModelSpec
from niah.errors import ConfigError, ModelError, PermanentModelError, TransientModelError
from tests.fakes import FakeOpenAIServer, FaultConfig, ScriptedTransport

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    """The runner uses asyncio; trio, when installed, is not a supported target."""
    return "asyncio"

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
    b = backend(transport, base_url="http://127.0.0.1:9/v1", options={"top_k": 1})
    await b.generate(Request(messages=REQUEST.messages[1:]))
    assert str(transport.requests[0].url) == "http://127.0.0.1:9/v1/messages"
    assert "system" not in transport.body()
    assert transport.body()["top_k"] == 1


async def test_response_parsing_counts_cached_prompt_tokens() -> None:
    completion = await backend(ScriptedTransport(httpx.Response(200, json=RESPONSE))).generate(
        REQUEST
    )
    assert completion.text == "The number is 555."
    assert completion.finish_reason == "end_turn"
    assert completion.provider_id == "msg_01XFDUDYJgAACzvnptvVoYEL"
    assert completion.usage == Usage(prompt_tokens=2310, completion_tokens=6, cached_tokens=2000)


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


async def test_empty_content_and_refusal() -> None:
    empty = {**RESPONSE, "content": []}
    with pytest.raises(TransientModelError) as info:
        await backend(ScriptedTransport(httpx.Response(200, json=empty))).generate(REQUEST)
    assert info.value.kind == "bad_response"
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
