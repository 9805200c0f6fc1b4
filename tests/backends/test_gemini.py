"""gemini/MODEL: generateContent shape, key in a header only, filters, a real socket."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from niah.backends.base import Message, Request, Usage
from niah.backends.gemini import GeminiBackend
from niah.config import ModelSpec, RunSpec
from niah.errors import ConfigError, ModelError, PermanentModelError, TransientModelError
from tests.fakes import FakeOpenAIServer, FaultConfig, ScriptedTransport

pytestmark = pytest.mark.anyio

KEY = "AIzaSyTest-0123456789abcdefghij"
REQUEST = Request(
    messages=[
        Message(role="system", content="Answer from the document."),
        Message(role="user", content="Earlier question"),
        Message(role="assistant", content="Earlier answer"),
        Message(role="user", content="The special magic number is 99. What is it?"),
    ],
    max_tokens=40,
    seed=5,
)
RESPONSE = {
    "candidates": [
        {
            "content": {"role": "model", "parts": [
                {"text": "thinking...", "thought": True},
                {"text": "It is "},
                {"text": "99."},
            ]},
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "usageMetadata": {"promptTokenCount": 5000, "candidatesTokenCount": 4,
                      "cachedContentTokenCount": 4096, "thoughtsTokenCount": 20,
                      "totalTokenCount": 5024},
    "modelVersion": "gemini-2.0-flash",
    "responseId": "resp-abc",
}


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)


def backend(transport: ScriptedTransport, model: str = "gemini-2.0-flash",
            **spec: Any) -> GeminiBackend:
    return GeminiBackend(ModelSpec(id=f"gemini/{model}", **spec), client=transport.client())


async def test_request_shape_keeps_the_key_out_of_the_url() -> None:
    transport = ScriptedTransport(httpx.Response(200, json=RESPONSE))
    await backend(transport, model="models/gemini-2.0-flash").generate(REQUEST)
    sent = transport.requests[0]
    assert str(sent.url) == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent"
    )
    assert not sent.url.query and KEY not in str(sent.url)
    assert sent.headers["x-goog-api-key"] == KEY
    assert sent.headers["content-type"] == "application/json"
    assert json.loads(sent.content) == {
        "contents": [
            {"role": "user", "parts": [{"text": "Earlier question"}]},
            {"role": "model", "parts": [{"text": "Earlier answer"}]},
            {"role": "user", "parts": [{"text": "The special magic number is 99. What is it?"}]},
        ],
        "systemInstruction": {"parts": [{"text": "Answer from the document."}]},
        "generationConfig": {"temperature": 0.0, "maxOutputTokens": 40, "seed": 5},
    }


async def test_options_merge_into_generation_config() -> None:
    transport = ScriptedTransport(httpx.Response(200, json=RESPONSE))
    options = {"thinking_budget": 0,
               "body": {"generationConfig": {"topK": 1}, "safetySettings": []}}
    await backend(transport, options=options).generate(Request(messages=REQUEST.messages[3:]))
    body = transport.body()
    assert body["generationConfig"] == {"temperature": 0.0, "maxOutputTokens": 64,
                                        "thinkingConfig": {"thinkingBudget": 0}, "topK": 1}
    assert body["safetySettings"] == [] and "systemInstruction" not in body
    await backend(transport, options={"thinking_level": "low"}).generate(REQUEST)
    assert transport.body()["generationConfig"]["thinkingConfig"] == {"thinkingLevel": "low"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"body": {"generationConfig": {"seed": 1}}},
         r"^model\.options\.body: generationConfig\.seed is set by niah"),
        ({"body": {"generationConfig": {"thinkingConfig": {}}}},
         r"^model\.options\.body: generationConfig\.thinkingConfig is set by niah"),
        ({"thinking_budget": 1024, "thinking_level": "low"},
         r"^model\.options: set thinking_budget \(Gemini 2\.5\) or thinking_level"),
        ({"thinking_budget": -2}, r"^model\.options\.thinking_budget: "),
        ({"thinking_level": "max"}, r"^model\.options\.thinking_level: "),
        ({"generationConfig": {"topK": 1}}, r"^model\.options\.generationConfig: unknown key"),
    ],
)
def test_bad_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        backend(ScriptedTransport(), options=options)


def test_a_thinking_budget_must_leave_room_for_the_answer() -> None:
    spec = ModelSpec(id="gemini/gemini-2.5-flash", options={"thinking_budget": 512})
    GeminiBackend.check_model(spec, RunSpec(max_tokens=1024))
    with pytest.raises(ConfigError, match=r"^model\.options\.thinking_budget: 512 leaves no "
                                          r"room for the answer in run\.max_tokens \(64\)"):
        GeminiBackend.check_model(spec, RunSpec(max_tokens=64))


@pytest.mark.parametrize(
    ("name", "auto"),
    [("gemini-2.0-flash", 0.0), ("gemini-2.5-pro", 0.0), ("models/gemini-1.5-flash", 0.0),
     ("gemini-3-pro-preview", None), ("gemini-3.1-flash-lite-preview", None)],
)
def test_auto_temperature(name: str, auto: float | None) -> None:
    spec = ModelSpec(id=f"gemini/{name}")
    assert GeminiBackend.request_temperature(spec, "auto") == auto
    assert GeminiBackend.request_temperature(spec, 0.3) == 0.3  # allowed, if not advised


async def test_response_parsing() -> None:
    completion = await backend(ScriptedTransport(httpx.Response(200, json=RESPONSE))).generate(
        REQUEST
    )
    assert completion.text == "It is 99."  # thought parts are not the answer
    assert completion.finish_reason == "STOP"
    assert completion.provider_id == "resp-abc"
    assert completion.usage == Usage(prompt_tokens=5000, completion_tokens=24, cached_tokens=4096)
    assert completion.raw == {"thoughts_tokens": 20}


@pytest.mark.parametrize("reason", ["SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST"])
async def test_filtered_answers_are_permanent(reason: str) -> None:
    body = {"candidates": [{"finishReason": reason, "index": 0}]}
    with pytest.raises(PermanentModelError) as info:
        await backend(ScriptedTransport(httpx.Response(200, json=body))).generate(REQUEST)
    assert info.value.kind == "content_filtered"
    assert reason in str(info.value)


@pytest.mark.parametrize(
    "candidate",
    [
        {"content": {"role": "model"}, "finishReason": "MAX_TOKENS", "index": 0},
        {"finishReason": "MAX_TOKENS", "index": 0},
        {"content": {"role": "model", "parts": [{"text": "Let me think", "thought": True}]},
         "finishReason": "MAX_TOKENS"},
        {"content": {"role": "model", "parts": []}, "finishReason": "STOP"},
    ],
)
async def test_a_candidate_without_text_is_an_empty_answer(candidate: dict[str, Any]) -> None:
    body = {"candidates": [candidate], "responseId": "r-1",
            "usageMetadata": {"promptTokenCount": 900, "thoughtsTokenCount": 40}}
    completion = await backend(ScriptedTransport(httpx.Response(200, json=body))).generate(
        REQUEST
    )
    assert completion.text == ""
    assert completion.finish_reason == candidate["finishReason"]
    assert completion.usage == Usage(prompt_tokens=900, completion_tokens=40)


async def test_a_candidate_with_neither_content_nor_finish_reason_is_a_bad_response() -> None:
    with pytest.raises(TransientModelError) as info:
        await backend(ScriptedTransport(httpx.Response(200, json={"candidates": [{}]}))).generate(
            REQUEST
        )
    assert info.value.kind == "bad_response"


async def test_blocked_prompt_and_missing_candidates() -> None:
    blocked = {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}
    with pytest.raises(PermanentModelError) as info:
        await backend(ScriptedTransport(httpx.Response(200, json=blocked))).generate(REQUEST)
    assert info.value.kind == "content_filtered"
    with pytest.raises(TransientModelError) as empty:
        await backend(ScriptedTransport(httpx.Response(200, json={"candidates": []}))).generate(
            REQUEST
        )
    assert empty.value.kind == "bad_response"


@pytest.mark.parametrize(
    ("status", "message", "grpc", "cls", "kind"),
    [
        (429, "Resource has been exhausted (e.g. check quota).", "RESOURCE_EXHAUSTED",
         TransientModelError, "rate_limit"),
        (503, "The model is overloaded. Please try again later.", "UNAVAILABLE",
         TransientModelError, "server_error"),
        (400, "The input token count (1200000) exceeds the maximum number of tokens allowed "
              "(1048576).", "INVALID_ARGUMENT", PermanentModelError, "context_length_exceeded"),
        (400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT",
         PermanentModelError, "bad_request"),
        (403, "Permission denied", "PERMISSION_DENIED", PermanentModelError, "auth"),
        (404, "models/gemini-9 is not found", "NOT_FOUND", PermanentModelError, "not_found"),
    ],
)
async def test_error_bodies(
    status: int, message: str, grpc: str, cls: type[ModelError], kind: str
) -> None:
    body = {"error": {"code": status, "message": message, "status": grpc}}
    with pytest.raises(cls) as info:
        await backend(ScriptedTransport(httpx.Response(status, json=body))).generate(REQUEST)
    assert info.value.kind == kind
    assert str(info.value) == f"gemini {status}: {message}"


def test_key_lookup_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", "google-key")
    assert backend(ScriptedTransport()).headers()["x-goog-api-key"] == KEY
    monkeypatch.delenv("GEMINI_API_KEY")
    assert backend(ScriptedTransport()).headers()["x-goog-api-key"] == "google-key"
    monkeypatch.delenv("GOOGLE_API_KEY")
    with pytest.raises(ConfigError) as info:
        backend(ScriptedTransport())
    assert str(info.value) == (
        "model.api_key_env: environment variable GEMINI_API_KEY or GOOGLE_API_KEY is not set"
    )


async def test_against_the_fake_server() -> None:
    script = [None, "rate_limit_no_header", "unauthorized", "drop", "slow"]
    faults = FaultConfig(script=script, slow_delay_s=30)
    with FakeOpenAIServer(faults, style="gemini", echo_headers=True) as srv:
        async with httpx.AsyncClient() as client, httpx.AsyncClient(timeout=0.2) as impatient:
            spec = ModelSpec(id="gemini/gemini-test", base_url=srv.base_url)
            b = GeminiBackend(spec, client)
            completion = await b.generate(REQUEST)
            assert completion.text == "The special magic number is 99."
            assert completion.provider_id == "fake-0"
            expected = [(TransientModelError, "rate_limit"), (PermanentModelError, "auth"),
                        (TransientModelError, "connection"), (TransientModelError, "timeout")]
            for cls, kind in expected:
                with pytest.raises(cls) as info:  # only the slow reply meets the short timeout
                    await (GeminiBackend(spec, impatient) if kind == "timeout" else b).generate(
                        REQUEST
                    )
                assert info.value.kind == kind
                assert KEY not in str(info.value)
            assert srv.requests[0].path == "/v1beta/models/gemini-test:generateContent"
            assert srv.requests[0].headers["x-goog-api-key"] == KEY
