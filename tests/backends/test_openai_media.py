"""openai/ and openai-compatible/ with media, over a real socket: frames as image_url
data URLs after their labels, input_audio and audio_url, video_url, token estimates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from niah.backends.base import Message, Request
from niah.backends.openai import OpenAIBackend
from niah.backends.openai_compatible import OpenAICompatibleBackend
from niah.config import ModelSpec
from niah.errors import PermanentModelError
from niah.media.base import MediaPart, MediaSummary
from niah.media.tokens import openai_image_tokens as image_tokens
from tests.fakes import FakeOpenAIServer
from tests.fakes.media import mp4_clip, openai_content, png_frames, wav_clip

pytestmark = pytest.mark.anyio

BEFORE, AFTER = "<video>\n", "\n</video>\nThe special magic number is 7. What is it?"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789")


def request(*parts: MediaPart) -> Request:
    return Request(messages=[Message(role="system", content="Answer briefly."),
                             Message(role="user", content="An earlier turn"),
                             Message(role="assistant", content="ok"),
                             Message(role="user", content=BEFORE + AFTER)],
                   max_tokens=16, media=parts, media_at=len(BEFORE))


async def send(backend_cls: type[OpenAIBackend], server: FakeOpenAIServer, parts: list[MediaPart],
               **options: Any) -> dict[str, Any]:
    model = "openai/gpt-4o" if backend_cls is OpenAIBackend else "openai-compatible/m"
    backend = backend_cls(ModelSpec(id=model, base_url=server.base_url, options=options))
    completion = await backend.generate(request(*parts))
    await backend.aclose()
    assert completion.text == "The special magic number is 7."  # the text still reached it
    body: dict[str, Any] = server.requests[-1].body
    return body


@pytest.mark.parametrize("backend_cls", [OpenAIBackend, OpenAICompatibleBackend])
async def test_frames_are_image_urls_after_their_labels(
        backend_cls: type[OpenAIBackend], tmp_path: Path) -> None:
    frames = png_frames(tmp_path, 6)
    with FakeOpenAIServer() as server:
        body = await send(backend_cls, server, frames, detail="low")
    earlier = body["messages"][1]
    assert earlier == {"role": "user", "content": "An earlier turn"}  # only the last one
    sent = openai_content(body)
    assert [s.kind for s in sent] == ["text"] + ["text", "image_url"] * 6 + ["text"]
    assert (sent[0].text, sent[-1].text) == (BEFORE, AFTER)
    assert [s.text for s in sent[1:-1:2]] == [f.label for f in frames]
    images = sent[2:-1:2]
    assert [s.data for s in images] == [Path(f.path).read_bytes() for f in frames]
    assert {s.mime for s in images} == {"image/png"}
    assert all(s.extra == {"detail": "low"} for s in images)


async def test_frames_without_labels_and_default_detail(tmp_path: Path) -> None:
    frames = [f.__class__(**{**f.__dict__, "label": None}) for f in png_frames(tmp_path, 3)]
    with FakeOpenAIServer() as server:
        sent = openai_content(await send(OpenAIBackend, server, frames))
    assert [s.kind for s in sent] == ["text", "image_url", "image_url", "image_url", "text"]
    assert all(s.extra == {} for s in sent[1:-1])  # no detail: the API's auto


@pytest.mark.parametrize("backend_cls", [OpenAIBackend, OpenAICompatibleBackend])
async def test_audio_is_input_audio(backend_cls: type[OpenAIBackend], tmp_path: Path) -> None:
    clip = wav_clip(tmp_path / "clip.wav", seconds=0.25)
    with FakeOpenAIServer() as server:
        body = await send(backend_cls, server, [clip])
    user = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
    assert user[1]["type"] == "input_audio"
    assert set(user[1]["input_audio"]) == {"data", "format"}
    sent = openai_content(body)
    assert [s.kind for s in sent] == ["text", "input_audio", "text"]
    assert sent[1].mime == "wav" and sent[1].data == Path(clip.path).read_bytes()


async def test_compatible_servers_take_audio_url_and_video_url(tmp_path: Path) -> None:
    clip = wav_clip(tmp_path / "clip.wav", seconds=0.25)
    video = mp4_clip(tmp_path / "clip.mp4", seconds=2)
    with FakeOpenAIServer() as server:
        audio_sent = openai_content(await send(OpenAICompatibleBackend, server, [clip],
                                               audio_as="audio_url"))
        video_sent = openai_content(await send(OpenAICompatibleBackend, server, [video],
                                               video_as="video"))
    assert audio_sent[1].kind == "audio_url" and audio_sent[1].mime == "audio/wav"
    assert audio_sent[1].data == Path(clip.path).read_bytes()
    assert video_sent[1].kind == "video_url" and video_sent[1].mime == "video/mp4"
    assert video_sent[1].data == Path(video.path).read_bytes()


async def test_what_a_backend_cannot_send_is_a_permanent_error(tmp_path: Path) -> None:
    video = mp4_clip(tmp_path / "clip.mp4", seconds=1)
    with FakeOpenAIServer() as server:
        hosted = OpenAIBackend(ModelSpec(id="openai/gpt-4o", base_url=server.base_url))
        with pytest.raises(PermanentModelError) as caught:
            await hosted.generate(request(video))
        assert caught.value.kind == "unsupported_media"
        plain = OpenAICompatibleBackend(ModelSpec(id="openai-compatible/m",
                                                  base_url=server.base_url,
                                                  options={"mode": "completions"}))
        with pytest.raises(PermanentModelError):
            await plain.generate(request(video))
        assert server.stats["requests"] == 0  # refused before anything was sent


def test_media_forms() -> None:
    hosted = ModelSpec(id="openai/gpt-4o")
    assert OpenAIBackend.media_form(hosted, "video") == "frames"
    assert OpenAIBackend.media_form(hosted, "audio") == "wav"
    assert OpenAIBackend.accepts == {"image", "audio"}
    mp3 = hosted.model_copy(update={"options": {"audio_format": "mp3"}})
    assert OpenAIBackend.media_form(mp3, "audio") == "mp3"
    server = ModelSpec(id="openai-compatible/m", base_url="http://127.0.0.1:1/v1",
                       options={"video_as": "video"})
    assert OpenAICompatibleBackend.media_form(server, "video") == "video"
    completions = server.model_copy(update={"options": {"mode": "completions"}})
    assert OpenAICompatibleBackend.media_form(completions, "video") is None


def test_image_tokens_follow_openais_worked_examples(tmp_path: Path) -> None:
    # "Images and vision" guide: 1024x1024 high -> 765; 2048x4096 high -> 1105; low -> 85
    assert image_tokens(1024, 1024, "high") == 765
    assert image_tokens(2048, 4096, "high") == 1105
    assert image_tokens(4096, 8192, "low") == 85
    assert image_tokens(64, 48, "high") == 85 + 170  # small images are never scaled up
    frames = png_frames(tmp_path, 3, size=(1280, 720))
    spec = ModelSpec(id="openai/gpt-4o")
    # 1280x720 -> 1365x768 -> 3x2 tiles
    summary = MediaSummary.of("video", "frames", frames, 3.0, size=(1280, 720))
    assert OpenAIBackend.media_tokens(spec, summary) == 3 * (85 + 170 * 6)
    low = spec.model_copy(update={"options": {"detail": "low"}})
    assert OpenAIBackend.media_tokens(low, summary) == 3 * 85
    audio = MediaSummary("audio", "wav", 60.0)
    assert OpenAIBackend.media_tokens(spec, audio) is None  # no published rate


async def test_more_than_500_images_is_a_gray_row_for_openai_only(tmp_path: Path) -> None:
    frame = png_frames(tmp_path, 1)[0]
    frames = [frame] * 501
    with FakeOpenAIServer() as server:
        hosted = OpenAIBackend(ModelSpec(id="openai/gpt-4o", base_url=server.base_url))
        with pytest.raises(PermanentModelError) as caught:
            await hosted.generate(request(*frames))
        assert caught.value.kind == "too_many_images"
        assert server.stats["requests"] == 0
        body = await send(OpenAICompatibleBackend, server, frames)  # the server's own limit
    assert sum(s.kind == "image_url" for s in openai_content(body)) == 501
