"""anthropic/MODEL with media: frames as base64 image blocks after their labels, and
the API's image limits as permanent errors (gray rows) before anything is sent."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from niah.backends import anthropic
from niah.backends.anthropic import AnthropicBackend
from niah.backends.base import CacheHint, Message, Request
from niah.config import ModelSpec
from niah.errors import PermanentModelError
from niah.media.base import MediaPart, MediaSummary
from tests.fakes import FakeOpenAIServer, ScriptedTransport
from tests.fakes.media import anthropic_content, png_frames, wav_clip

pytestmark = pytest.mark.anyio

BEFORE, AFTER = "<video>\n", "\n</video>\nThe special magic number is 7. What is it?"
SONNET_45 = "anthropic/claude-sonnet-4-5"  # a 200k window: 100 images per request


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0123456789")


def request(*parts: MediaPart, cache: CacheHint | None = None) -> Request:
    return Request(messages=[Message(role="system", content="Answer briefly."),
                             Message(role="user", content=BEFORE + AFTER)],
                   max_tokens=16, media=parts, media_at=len(BEFORE), cache=cache)


async def refused(frames: list[MediaPart], model: str = SONNET_45,
                  **options: object) -> PermanentModelError:
    with FakeOpenAIServer(style="anthropic") as server:
        claude = AnthropicBackend(ModelSpec(id=model, base_url=server.base_url,
                                            options=options))
        with pytest.raises(PermanentModelError) as caught:
            await claude.generate(request(*frames))
        await claude.aclose()
        assert server.stats["requests"] == 0  # refused before sending
    return caught.value


async def test_frames_are_image_blocks_after_their_labels(tmp_path: Path) -> None:
    frames = png_frames(tmp_path, 5)
    with FakeOpenAIServer(style="anthropic") as server:
        claude = AnthropicBackend(ModelSpec(id=SONNET_45, base_url=server.base_url))
        completion = await claude.generate(request(*frames))
        await claude.aclose()
    assert completion.text == "The special magic number is 7."
    body = server.requests[-1].body
    assert body["system"] == "Answer briefly."
    sent = anthropic_content(body)
    assert [s.kind for s in sent] == ["text"] + ["text", "image"] * 5 + ["text"]
    assert (sent[0].text, sent[-1].text) == (BEFORE, AFTER)
    assert [s.text for s in sent[1:-1:2]] == [f.label for f in frames]
    images = sent[2:-1:2]
    assert [s.data for s in images] == [Path(f.path).read_bytes() for f in frames]
    assert {s.mime for s in images} == {"image/png"}


async def test_more_images_than_allowed_is_a_too_many_images_error(tmp_path: Path) -> None:
    frames = png_frames(tmp_path, 101)
    error = await refused(frames)
    assert error.kind == "too_many_images"
    assert "101 images" in str(error) and "100" in str(error)
    assert (await refused(frames[:4], max_images=3)).kind == "too_many_images"
    # a 1M-window model takes up to 600
    big = AnthropicBackend(ModelSpec(id="anthropic/claude-opus-4-6"))
    assert big.max_images() == 600
    assert AnthropicBackend(ModelSpec(id=SONNET_45)).max_images() == 100


async def test_over_twenty_images_each_must_fit_2000_px(tmp_path: Path) -> None:
    (tmp_path / "wide").mkdir()
    wide = png_frames(tmp_path / "wide", 1, size=(2100, 16))
    small = png_frames(tmp_path, 20)
    error = await refused(small + wide)
    assert error.kind == "image_too_large"
    transport = ScriptedTransport(httpx.Response(200, json={
        "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn"}))
    claude = AnthropicBackend(ModelSpec(id=SONNET_45), client=transport.client())
    assert (await claude.generate(request(*small[:19], *wide))).text == "ok"  # 20 may be large


async def test_a_request_over_32_mb_is_refused(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    frames = png_frames(tmp_path, 3)
    monkeypatch.setattr(anthropic, "MAX_REQUEST_BYTES", 200)
    assert (await refused(frames)).kind == "request_too_large"


async def test_the_apis_own_too_much_media_error_keeps_its_kind(tmp_path: Path) -> None:
    message = "Too much media: 0 document pages + 102 images > 100"
    transport = ScriptedTransport(httpx.Response(400, json={
        "type": "error", "error": {"type": "invalid_request_error", "message": message}}))
    claude = AnthropicBackend(ModelSpec(id=SONNET_45, options={"max_images": 200}),
                              client=transport.client())
    with pytest.raises(PermanentModelError) as caught:
        await claude.generate(request(*png_frames(tmp_path, 2)))
    assert caught.value.kind == "too_many_images" and caught.value.status == 400


async def test_audio_is_refused_and_media_forms_say_so(tmp_path: Path) -> None:
    spec = ModelSpec(id=SONNET_45)
    assert AnthropicBackend.media_form(spec, "video") == "frames"
    assert AnthropicBackend.media_form(spec, "audio") is None
    assert AnthropicBackend.accepts == {"image"}
    error = await refused([wav_clip(tmp_path / "a.wav", seconds=0.1)])
    assert error.kind == "unsupported_media"


async def test_cache_marks_and_media_together(tmp_path: Path) -> None:
    frames = png_frames(tmp_path, 2)
    content = BEFORE + AFTER
    hint = CacheHint(cuts=(3, len(BEFORE), len(BEFORE) + 5), marks=(len(BEFORE),))
    transport = ScriptedTransport(httpx.Response(200, json={
        "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn"}))
    claude = AnthropicBackend(ModelSpec(id=SONNET_45), client=transport.client())
    await claude.generate(request(*frames, cache=hint))
    sent = anthropic_content(transport.body())
    texts = [(s.text, s.extra) for s in sent if s.kind == "text"]
    assert texts == [
        (content[:3], None), (content[3:len(BEFORE)], {"type": "ephemeral"}),
        (frames[0].label, None), (frames[1].label, None),
        (content[len(BEFORE):len(BEFORE) + 5], None), (content[len(BEFORE) + 5:], None),
    ]


def test_token_estimates_follow_the_vision_guide(tmp_path: Path) -> None:
    spec = ModelSpec(id=SONNET_45)
    for name, size, tokens in [("a", (1000, 1000), 1334),  # 1000*1000/750
                               ("b", (200, 200), 54),
                               ("c", (2000, 2000), 1534)]:  # scaled to ~1.15 MP
        (tmp_path / name).mkdir()
        frame = png_frames(tmp_path / name, 1, size=size)
        summary = MediaSummary.of("video", "frames", frame, 1.0, size=size)
        assert AnthropicBackend.media_tokens(spec, summary) == tokens, size
