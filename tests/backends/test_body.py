"""Streamed request bodies: byte for byte what httpx's ``json=`` sent, for every backend."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from niah.backends import _body
from niah.backends._body import Text, encode_body, materialize
from niah.backends.anthropic import AnthropicBackend
from niah.backends.base import CacheHint, Message, Request
from niah.backends.gemini import GeminiBackend
from niah.backends.openai import OpenAIBackend
from niah.backends.openai_compatible import OpenAICompatibleBackend
from niah.config import ModelSpec
from tests.fakes import ScriptedTransport
from tests.fakes.media import png_frames

pytestmark = pytest.mark.anyio

# every character JSON escapes, non-ASCII, astral and a line separator, many times over
TEXT = ('A "quoted" \\ back\\slash,\ttab\nline\r\x00\x01\x1f é ü 中文 😀 \u2028 end. ' * 400)
CONTENT = "<document>\n" + TEXT + "</document>\n\nWhat is the special magic number?"
REQUEST = Request(messages=[Message(role="system", content="Use only the document."),
                            Message(role="user", content=CONTENT)],
                  max_tokens=32, temperature=0.0, seed=3)
CUTS = (200, 4000, 9000, 20000)
CACHED = REQUEST.model_copy(update={"cache": CacheHint(cuts=CUTS, marks=(4000, 20000))})
REPLIES = {
    "anthropic": {"content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn"},
    "gemini": {"candidates": [{"content": {"parts": [{"text": "ok"}]}, "finishReason": "STOP"}]},
    "openai": {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]},
    "completions": {"choices": [{"text": "ok", "finish_reason": "stop"}]},
}


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.setenv(name, "test-key-0123456789")


def _backends(transport: ScriptedTransport) -> list[Any]:
    client = transport.client()
    return [
        AnthropicBackend(ModelSpec(id="anthropic/claude-sonnet-4-5"), client=client),
        GeminiBackend(ModelSpec(id="gemini/gemini-2.5-flash"), client=client),
        OpenAIBackend(ModelSpec(id="openai/gpt-4.1"), client=client),
        OpenAICompatibleBackend(ModelSpec(id="openai-compatible/m", base_url="http://x/v1"),
                                client=client),
        OpenAICompatibleBackend(ModelSpec(id="openai-compatible/m", base_url="http://x/v1",
                                          options={"mode": "completions"}), client=client),
    ]


def _reply(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    kind = ("anthropic" if path.endswith("/messages") else "gemini" if ":generate" in path
            else "openai" if path.endswith("/chat/completions") else "completions")
    return httpx.Response(200, json=REPLIES[kind])


@pytest.mark.parametrize("stream_from", [1, 1 << 30], ids=["streamed", "in-one-piece"])
@pytest.mark.parametrize("request_", [REQUEST, CACHED], ids=["plain", "cache-marks"])
async def test_body_is_what_httpx_json_sent(
    stream_from: int, request_: Request, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_body, "STREAM_MIN_CHARS", stream_from)
    monkeypatch.setattr(_body, "CHUNK_CHARS", 997)  # slices end anywhere, mid-escape too
    transport = ScriptedTransport(_reply)
    for backend in _backends(transport):
        await backend.generate(request_)
        sent = transport.requests[-1]
        expected = httpx.Request("POST", "http://x", json=materialize(backend.build_body(request_)))
        assert sent.content == expected.content, backend.spec.id
        assert sent.headers["content-length"] == str(len(expected.content))
        assert sent.headers["content-type"] == "application/json"
        assert "transfer-encoding" not in sent.headers


async def test_a_streamed_body_holds_the_prompt_by_reference() -> None:
    big = "x" * (_body.STREAM_MIN_CHARS + 10)
    encoded = encode_body({"messages": [{"content": Text(big)}], "n": None})
    assert isinstance(encoded, _body.StreamedBody)
    assert encoded.texts[0].parts[0][0] is big  # not a copy
    length = await encoded.measure()
    data = b"".join([chunk async for chunk in encoded])
    assert len(data) == length
    assert json.loads(data) == {"messages": [{"content": big}], "n": None}


async def test_anthropic_cuts_the_user_message_at_the_hint_and_marks_blocks() -> None:
    transport = ScriptedTransport(httpx.Response(200, json=REPLIES["anthropic"]))
    backend = AnthropicBackend(ModelSpec(id="anthropic/claude-sonnet-4-5"),
                               client=transport.client())
    await backend.generate(CACHED)
    body = transport.body()
    assert body["system"] == "Use only the document."
    blocks = body["messages"][0]["content"]
    assert "".join(b["text"] for b in blocks) == CONTENT
    ends = [sum(len(b["text"]) for b in blocks[: i + 1]) for i in range(len(blocks))]
    assert ends[:-1] == list(CUTS)
    assert [i for i, b in enumerate(blocks) if "cache_control" in b] == [1, 3]
    assert all(b["cache_control"] == {"type": "ephemeral"} for b in blocks if "cache_control" in b)
    await backend.generate(REQUEST)
    assert transport.body()["messages"][0]["content"] == CONTENT  # no hint: one string


async def test_openai_sends_the_routing_key_and_compatible_servers_do_not() -> None:
    keyed = REQUEST.model_copy(update={"cache": CacheHint(key="niah-abc-1000")})
    transport = ScriptedTransport(_reply)
    openai, compatible = _backends(transport)[2:4]
    await openai.generate(keyed)
    assert transport.body()["prompt_cache_key"] == "niah-abc-1000"
    await compatible.generate(keyed)
    assert "prompt_cache_key" not in transport.body()


async def test_the_first_cache_write_goes_alone() -> None:
    order: list[str] = []
    first_done = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        n = len(order)
        order.append(f"start {n}")
        if n == 0:
            await asyncio.sleep(0.05)
            first_done.set()
        order.append(f"end {n}")
        return httpx.Response(200, json=REPLIES["anthropic"])

    backend = AnthropicBackend(ModelSpec(id="anthropic/claude-sonnet-4-5"),
                               client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))
    await asyncio.gather(*(backend.generate(CACHED) for _ in range(3)))
    assert order[:2] == ["start 0", "end 0"]  # the others waited for its answer
    assert len(order) == 6


@pytest.mark.parametrize("stream_from", [1, 1 << 30], ids=["streamed", "in-one-piece"])
async def test_media_bodies_are_what_httpx_json_sent(
    stream_from: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(_body, "STREAM_MIN_CHARS", stream_from)
    monkeypatch.setattr(_body, "CHUNK_CHARS", 997)
    monkeypatch.setattr(_body.Base64File, "READ_BYTES", 3 * 7)  # many slices per file
    frames = png_frames(tmp_path, 3)
    request = CACHED.model_copy(update={"media": tuple(frames), "media_at": 10_000})
    transport = ScriptedTransport(_reply)
    for backend in _backends(transport)[:-1]:  # completions mode carries no media
        await backend.generate(request)
        sent = transport.requests[-1]
        expected = httpx.Request("POST", "http://x", json=materialize(backend.build_body(request)))
        assert sent.content == expected.content, backend.spec.id
        assert sent.headers["content-length"] == str(len(expected.content))
        assert base64.b64encode(Path(frames[2].path).read_bytes()) in sent.content


async def test_a_base64_file_is_read_from_disk_a_slice_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "clip.bin"
    data = bytes(range(256)) * 4099  # not a multiple of the read size
    path.write_bytes(data)
    text = _body.Base64File(str(path), len(data), "data:audio/wav;base64,")
    expected = "data:audio/wav;base64," + base64.b64encode(data).decode()
    assert len(text) == len(expected)
    assert len(list(text.chunks())) > 2
    encoded = encode_body({"url": text, "n": 1})
    assert isinstance(encoded, _body.StreamedBody)
    length = await encoded.measure()
    body = b"".join([chunk async for chunk in encoded])
    assert len(body) == length
    assert json.loads(body) == {"url": expected, "n": 1}
    path.write_bytes(data[:-1])  # a file that changed after its part was made is refused
    with pytest.raises(OSError, match="bytes on disk"):
        str(text)
