"""gemini/MODEL with media, against a fake Gemini API over a real socket: inline_data
under the limit, the Files API's resumable upload above it, uploads reused by hash."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from niah.backends._media import base64_len
from niah.backends.base import Message, Request
from niah.backends.gemini import GeminiBackend
from niah.config import ModelSpec
from niah.errors import PermanentModelError
from niah.media.base import MediaPart, MediaSummary
from tests.fakes.gemini_server import FakeGeminiServer
from tests.fakes.media import gemini_content, mp4_clip, png_frames, wav_clip

pytestmark = pytest.mark.anyio

KEY = "AIzaSyMedia-0123456789abcdefghij"
BEFORE, AFTER = "Watch this video.\n", "\nWhat is the secret word?"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)


def request(*parts: MediaPart) -> Request:
    return Request(messages=[Message(role="system", content="Answer briefly."),
                             Message(role="user", content=BEFORE + AFTER)],
                   max_tokens=16, media=parts, media_at=len(BEFORE))


def backend(server: FakeGeminiServer, **options: Any) -> GeminiBackend:
    made = GeminiBackend(ModelSpec(id="gemini/gemini-2.5-flash", base_url=server.base_url,
                                   options=options))
    made.files.poll_s = 0.0
    return made


def generate_calls(server: FakeGeminiServer) -> list[dict[str, Any]]:
    return [r.body for r in server.requests if r.path.endswith(":generateContent")]


async def test_a_small_clip_goes_inline_between_the_text(tmp_path: Path) -> None:
    clip = mp4_clip(tmp_path / "clip.mp4", seconds=3)
    with FakeGeminiServer(KEY) as server:
        gemini = backend(server)
        completion = await gemini.generate(request(clip))
        await gemini.aclose()
    assert completion.text == "text=2 inline=1 files=0"
    assert [r.path.split("?")[0] for r in server.requests] == [
        "/v1beta/models/gemini-2.5-flash:generateContent"]
    sent = gemini_content(generate_calls(server)[0])
    assert [s.kind for s in sent] == ["text", "inline_data", "text"]
    assert (sent[0].text, sent[2].text) == (BEFORE, AFTER)
    assert sent[1].mime == "video/mp4"
    assert sent[1].data == Path(clip.path).read_bytes()
    assert completion.raw is None  # nothing uploaded, nothing to record


async def test_over_the_limit_the_clip_is_uploaded_and_referred_to(tmp_path: Path) -> None:
    clip = mp4_clip(tmp_path / "clip.mp4", seconds=3)
    # the fake refuses inline bodies over 1 kB, as Google refuses them over its limit
    with FakeGeminiServer(KEY, inline_limit=1000, processing_polls=2) as server:
        gemini = backend(server, inline_max_bytes=1000)
        completion = await gemini.generate(request(clip))
        await gemini.aclose()
    paths = [r.path for r in server.requests]
    assert paths[0] == "/upload/v1beta/files"
    assert paths[1].startswith("/upload/v1beta/files?upload_id=0")
    assert paths[2:5] == ["/v1beta/files/f0"] * 3  # PROCESSING twice, then ACTIVE
    assert paths[5].endswith(":generateContent")
    start = server.requests[0]
    assert start.headers["X-Goog-Upload-Header-Content-Length"] == str(clip.nbytes)
    assert start.headers["X-Goog-Upload-Header-Content-Type"] == "video/mp4"
    assert all(KEY not in p for p in paths)  # the key travels in a header only
    assert server.files["files/f0"].data == Path(clip.path).read_bytes()
    sent = gemini_content(generate_calls(server)[0])
    assert [s.kind for s in sent] == ["text", "file_data", "text"]
    assert sent[1].mime == "video/mp4"
    assert sent[1].extra == {"uri": f"{server.base_url}/files/f0"}
    assert completion.text == "text=2 inline=0 files=1"
    assert completion.raw == {"gemini_files": ["files/f0"]}


async def test_the_switch_happens_exactly_at_the_limit(tmp_path: Path) -> None:
    clip = wav_clip(tmp_path / "clip.wav", seconds=0.5)
    size = len(BEFORE + AFTER) + len("Answer briefly.") + base64_len(clip.nbytes) + 128
    with FakeGeminiServer(KEY, processing_polls=0) as server:
        fits = backend(server, inline_max_bytes=size)
        over = backend(server, inline_max_bytes=size - 1)
        assert fits.to_upload(request(clip)) == []
        assert over.to_upload(request(clip)) == [clip]
        assert (await fits.generate(request(clip))).text == "text=2 inline=1 files=0"
        assert (await over.generate(request(clip))).text == "text=2 inline=0 files=1"
    sent = gemini_content(generate_calls(server)[0])
    assert sent[1].mime == "audio/wav" and sent[1].data == Path(clip.path).read_bytes()


async def test_a_sweep_uploads_each_clip_once(tmp_path: Path) -> None:
    clip = mp4_clip(tmp_path / "clip.mp4", seconds=2)
    other = mp4_clip(tmp_path / "other.mp4", seconds=3)
    with FakeGeminiServer(KEY, processing_polls=1) as server:
        gemini = backend(server, inline_max_bytes=0)
        answers = await asyncio.gather(*(gemini.generate(request(clip)) for _ in range(4)))
        again = await gemini.generate(request(clip))
        second = await gemini.generate(request(other))
        await gemini.aclose()
    assert gemini.files.uploaded == 2 and len(server.files) == 2
    assert {a.raw["gemini_files"][0] for a in [*answers, again] if a.raw} == {"files/f0"}
    assert second.raw == {"gemini_files": ["files/f1"]}
    starts = [r for r in server.requests if r.path == "/upload/v1beta/files"]
    assert len(starts) == 2


async def test_a_file_that_fails_processing_is_an_error_and_retried_afresh(
        tmp_path: Path) -> None:
    clip = mp4_clip(tmp_path / "clip.mp4", seconds=2)
    with FakeGeminiServer(KEY, fail_processing=True, processing_polls=0) as server:
        gemini = backend(server, inline_max_bytes=0)
        for _ in range(2):
            with pytest.raises(PermanentModelError) as caught:
                await gemini.generate(request(clip))
            assert caught.value.kind == "upload_failed"
        await gemini.aclose()
    assert gemini.files.uploaded == 2  # the failed upload was not kept
    assert not generate_calls(server)


async def test_frames_go_as_images_after_their_labels(tmp_path: Path) -> None:
    frames = png_frames(tmp_path, 5)
    spec = ModelSpec(id="gemini/gemini-2.5-flash", options={"video_as": "frames"})
    assert GeminiBackend.media_form(spec, "video") == "frames"
    with FakeGeminiServer(KEY) as server:
        completion = await backend(server, video_as="frames").generate(request(*frames))
    assert completion.text == "text=7 inline=5 files=0"
    sent = gemini_content(generate_calls(server)[0])
    assert [s.kind for s in sent] == ["text"] + ["text", "inline_data"] * 5 + ["text"]
    images = sent[2:-1:2]
    assert [s.text for s in sent[1:-1:2]] == [f.label for f in frames]
    assert [s.data for s in images] == [Path(f.path).read_bytes() for f in frames]
    assert {s.mime for s in images} == {"image/png"}


def test_media_form_and_token_estimates(tmp_path: Path) -> None:
    spec = ModelSpec(id="gemini/gemini-2.5-flash")
    assert GeminiBackend.media_form(spec, "video") == "video"
    assert GeminiBackend.media_form(spec, "audio") == "wav"
    assert GeminiBackend.media_form(
        spec.model_copy(update={"options": {"audio_format": "mp3"}}), "audio") == "mp3"
    assert GeminiBackend.accepts == {"image", "video", "audio"}
    video = MediaSummary("video", "video", 9.5, frames=10)
    assert GeminiBackend.media_tokens(spec, video) == 10 * 258  # 1 frame per second
    audio = MediaSummary("audio", "wav", 60.0)
    assert GeminiBackend.media_tokens(spec, audio) == 1920  # the docs' minute of audio


async def test_frames_over_the_limit_are_uploaded_in_order(tmp_path: Path) -> None:
    frames = png_frames(tmp_path, 4)
    with FakeGeminiServer(KEY, processing_polls=0) as server:
        gemini = backend(server, video_as="frames", inline_max_bytes=0)
        completion = await gemini.generate(request(*frames, frames[0]))  # one frame twice
        await gemini.aclose()
    assert gemini.files.uploaded == 4
    assert completion.text == "text=7 inline=0 files=5"
    sent = gemini_content(generate_calls(server)[0])
    uris = [s.extra["uri"] for s in sent if s.kind == "file_data"]  # type: ignore[index]
    by_uri = {f"{server.base_url}/{name}": file.data for name, file in server.files.items()}
    assert [by_uri[u] for u in uris] == [Path(f.path).read_bytes()
                                         for f in [*frames, frames[0]]]
    assert [s.text for s in sent if s.kind == "text"][1:-1] == [f.label for f in
                                                                [*frames, frames[0]]]
