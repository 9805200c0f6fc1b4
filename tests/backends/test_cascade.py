"""``ocr+``/``asr+`` cascades: ids, the inner model, the transcript where the media was."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import pytest

from niah.backends import cascade, registry
from niah.backends.base import Message, Request
from niah.backends.cascade import CascadeBackend
from niah.config import ModelSpec, RunSpec
from niah.errors import ConfigError, MissingDependency, PermanentModelError, UserError
from niah.media.base import MediaPart
from niah.tokenizers import resolve_tokenizer_name


class Recorder:
    """A transcriber that says what it was given."""

    def __init__(self, options: dict[str, object], cache_dir: Path) -> None:
        self.seen: list[str] = []
        self.text = str(options.get("text", "[00:00:01] The secret keyword is walrus."))

    async def transcribe(self, parts: object) -> str:
        self.seen.extend(p.path for p in parts)  # type: ignore[attr-defined]
        return self.text


def made(monkeypatch: pytest.MonkeyPatch, spec: ModelSpec) -> tuple[CascadeBackend, Recorder]:
    holder: list[Recorder] = []

    def factory(options: dict[str, object], cache_dir: Path) -> Recorder:
        holder.append(Recorder(options, cache_dir))
        return holder[-1]

    monkeypatch.setattr(cascade, "transcriber_factory", lambda stage: factory)
    backend = registry.create_backend(spec)
    assert isinstance(backend, CascadeBackend)
    _ = backend.transcriber
    return backend, holder[0]


def wav(tmp_path: Path) -> MediaPart:
    path = tmp_path / "a.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 8000)
    return MediaPart("audio", str(path), "audio/wav", "0" * 64, path.stat().st_size, 0.0, 1.0)


def test_ids_parse_into_stage_and_inner_model() -> None:
    spec = ModelSpec(id="ocr+llamacpp/smollm2-135m", context_window=4096,
                     options={"transcriber": {"upscale": 2}, "n_threads": 1})
    assert spec.cascade_stage == "ocr" and spec.provider == "ocr+llamacpp"
    inner = spec.text_model
    assert inner.id == "llamacpp/smollm2-135m" and inner.options == {"n_threads": 1}
    assert inner.context_window == 4096
    assert registry.is_known("asr+openai") and not registry.is_known("asr+nosuch")
    assert not registry.is_known("nope+openai")
    assert ModelSpec(id="scripted/x").cascade_stage is None
    assert resolve_tokenizer_name("auto", ModelSpec(id="asr+openai/gpt-4o"))[0] == \
        "tiktoken:o200k_base"


def test_forms_windows_and_checks_come_from_the_inner_model() -> None:
    ocr = ModelSpec(id="ocr+scripted/r", options={"context_window": 900})
    assert CascadeBackend.media_form(ocr, "video") == "video"
    assert CascadeBackend.media_form(ocr, "audio") is None
    assert CascadeBackend.media_form(ModelSpec(id="asr+scripted/r"), "audio") == "wav"
    assert registry.context_window(ocr) == 900
    with pytest.raises(ConfigError, match=r"model\.options\.recal"):
        registry.check_model(ModelSpec(id="ocr+scripted/r", options={"recal": 1}), RunSpec())
    with pytest.raises(ConfigError, match="transcriber: expected a mapping"):
        registry.check_model(ModelSpec(id="ocr+scripted/r", options={"transcriber": 3}),
                             RunSpec())


def test_the_transcript_goes_where_the_media_was(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spec = ModelSpec(id="asr+scripted/r", options={"pattern": r"The secret keyword is (\w+)"})
    backend, recorder = made(monkeypatch, spec)
    part = wav(tmp_path)
    request = Request(messages=[Message(role="system", content="Listen."),
                                Message(role="user", content="<audio></audio> Keyword?")],
                      media=(part,), media_at=7, prompt_tokens=20)
    sent: list[Request] = []
    answer = backend.inner.generate

    async def spy(inner: Request) -> object:
        sent.append(inner)
        return await answer(inner)

    monkeypatch.setattr(backend.inner, "generate", spy)
    completion = asyncio.run(backend.generate(request))
    assert recorder.seen == [part.path]
    assert sent[0].messages[-1].content == f"<audio>{recorder.text}</audio> Keyword?"
    assert sent[0].messages[0].content == "Listen." and sent[0].media == ()
    assert completion.text == "The secret keyword is walrus"
    assert completion.raw is not None and completion.raw["transcript_chars"] == len(recorder.text)
    assert completion.usage.prompt_tokens == 20 + completion.raw["transcript_tokens"]


def test_a_transcript_over_the_window_is_a_permanent_context_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spec = ModelSpec(id="asr+scripted/r", context_window=100,
                     options={"transcriber": {"text": "word " * 200}})
    backend, _ = made(monkeypatch, spec)
    request = Request(messages=[Message(role="user", content="Q")], media=(wav(tmp_path),),
                      media_at=0, prompt_tokens=10, max_tokens=16)
    with pytest.raises(PermanentModelError) as info:
        asyncio.run(backend.generate(request))
    assert info.value.kind == "context_length_exceeded"
    assert "window of 100" in str(info.value)


def test_a_missing_transcriber_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cascade.TRANSCRIBERS, "ocr", "niah.media.no_such_module:make")
    with pytest.raises(UserError, match="not in this niah build"):
        cascade.transcriber_factory("ocr")
    monkeypatch.setitem(cascade.TRANSCRIBERS, "asr", "no_such_package_xyz:make")
    with pytest.raises(MissingDependency, match=r"niah\[audio\]"):
        cascade.transcriber_factory("asr")
