"""The fake server itself: answers, protocols, deterministic faults."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.fakes import FAULT_KINDS, FakeOpenAIServer, FaultConfig

PROMPT = "hay hay The special magic number is 4242. hay The special magic number is 77. end"


def chat(client: httpx.Client, base: str, content: str = PROMPT) -> httpx.Response:
    body = {"model": "m", "messages": [{"role": "user", "content": content}]}
    return client.post(f"{base}/chat/completions", json=body)


def test_answers_every_needle_value_with_usage() -> None:
    with FakeOpenAIServer() as srv, httpx.Client() as client:
        data = chat(client, srv.base_url).json()
        assert data["choices"][0]["message"]["content"] == "The special magic number is 4242, 77."
        assert data["usage"]["prompt_tokens"] == len(PROMPT.split())
        assert chat(client, srv.base_url, "nothing here").json()["choices"][0]["message"][
            "content"
        ] == "I don't know."
        completion = client.post(
            f"{srv.base_url}/completions", json={"model": "m", "prompt": PROMPT}
        ).json()
        assert completion["choices"][0]["text"].startswith("The special magic number is 4242")
        assert srv.stats["requests"] == 3 and srv.stats["ok"] == 3
        assert srv.requests[0].body["messages"][0]["content"] == PROMPT


def test_custom_needle_pattern() -> None:
    with FakeOpenAIServer(
        needle_pattern=r"secret word is (\w+)", answer_template="It is {value}."
    ) as srv, httpx.Client() as client:
        data = chat(client, srv.base_url, "the secret word is plum").json()
        assert data["choices"][0]["message"]["content"] == "It is plum."


@pytest.mark.parametrize(
    ("style", "path", "body", "answer"),
    [
        (
            "anthropic", "/messages",
            {"model": "m", "system": "s", "messages": [{"role": "user", "content": PROMPT}]},
            lambda d: d["content"][0]["text"],
        ),
        (
            "gemini", "/models/gem:generateContent",
            {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]},
            lambda d: d["candidates"][0]["content"]["parts"][0]["text"],
        ),
    ],
)
def test_other_protocols(style: Any, path: str, body: dict[str, Any], answer: Any) -> None:
    with FakeOpenAIServer(style=style) as srv, httpx.Client() as client:
        data = client.post(srv.base_url + path, json=body).json()
        assert answer(data) == "The special magic number is 4242, 77."


def test_faults_are_deterministic_per_seed() -> None:
    def run(seed: int) -> list[int]:
        faults = FaultConfig(rate=0.5, seed=seed, kinds=["server_error", "rate_limit"])
        with FakeOpenAIServer(faults) as srv, httpx.Client() as client:
            codes = [chat(client, srv.base_url).status_code for _ in range(20)]
            assert srv.stats["requests"] == 20
            assert srv.stats["ok"] + srv.stats["server_error"] + srv.stats["rate_limit"] == 20
            return codes

    first = run(1)
    assert first == run(1)
    assert set(first) == {200, 429, 500}


@pytest.mark.parametrize(
    ("style", "error_of"),
    [
        ("openai", lambda d: d["error"]["code"]),
        ("anthropic", lambda d: d["error"]["type"]),
        ("gemini", lambda d: d["error"]["status"]),
    ],
)
def test_error_bodies_follow_the_protocol(style: Any, error_of: Any) -> None:
    script = ["rate_limit", "rate_limit_no_header", "context_length", "unauthorized"]
    path, body = {
        "openai": ("/chat/completions", {"messages": [{"role": "user", "content": "x"}]}),
        "anthropic": ("/messages", {"messages": [{"role": "user", "content": "x"}]}),
        "gemini": ("/models/g:generateContent", {"contents": [{"parts": [{"text": "x"}]}]}),
    }[style]
    with FakeOpenAIServer(FaultConfig(script=script), style=style) as srv, httpx.Client() as c:
        replies = [c.post(srv.base_url + path, json=body) for _ in script]
    assert [r.status_code for r in replies] == [429, 429, 400, 401]
    assert replies[0].headers["retry-after"] == "0.01"
    assert "retry-after" not in replies[1].headers
    assert [error_of(r.json()) for r in replies][2:] == {
        "openai": ["context_length_exceeded", "invalid_api_key"],
        "anthropic": ["invalid_request_error", "authentication_error"],
        "gemini": ["INVALID_ARGUMENT", "UNAUTHENTICATED"],
    }[style]


def test_broken_replies() -> None:
    script = ["malformed_json", "empty_choices", "drop", "overloaded", "slow"]
    with FakeOpenAIServer(FaultConfig(script=script, slow_delay_s=0.3)) as srv:
        with httpx.Client() as client:
            with pytest.raises(json.JSONDecodeError):
                chat(client, srv.base_url).json()
            assert chat(client, srv.base_url).json()["choices"] == []
            with pytest.raises(httpx.RemoteProtocolError):
                chat(client, srv.base_url)
            assert chat(client, srv.base_url).status_code == 529
        with httpx.Client(timeout=0.05) as client, pytest.raises(httpx.ReadTimeout):
            chat(client, srv.base_url)
        assert all(srv.stats[kind] == 1 for kind in script)


def test_api_key_echo_and_context_window() -> None:
    server = FakeOpenAIServer(api_key="k-123", echo_headers=True, context_window=5)
    with server as srv, httpx.Client() as client:
        denied = chat(client, srv.base_url)
        assert denied.status_code == 401 and "k-123" not in denied.text
        client.headers["Authorization"] = "Bearer k-123"
        too_long = chat(client, srv.base_url)
        assert too_long.status_code == 400
        assert "Bearer k-123" in too_long.json()["error"]["message"]  # echoed headers
        assert chat(client, srv.base_url, "short").status_code == 200


def test_unknown_fault_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown fault kinds"):
        FaultConfig(kinds=["nope"])
    assert "drop" in FAULT_KINDS
