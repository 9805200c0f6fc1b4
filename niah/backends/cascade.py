"""Transcript cascades: ``ocr+<text model id>`` and ``asr+<text model id>``.

The Gemini 1.5 report's baseline for media it cannot send a text model: transcribe
the haystack (Whisper there; OCR of the frames here too), then ask a text model. A
cascade takes the media request, gets a timestamped transcript from a ``Transcriber``
(``niah.media.ocr`` for video, ``niah.media.asr`` for audio; ``model.options.transcriber``
goes to it as given), puts the transcript where the media was (``Request.media_at``)
and asks the inner backend, built from the same spec without the prefix. A transcript
too long for the inner model's window is a permanent ``context_length_exceeded``
error: the trial's cell is drawn gray, as the report draws API limits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from niah.backends.base import Backend, Completion, Message, Request
from niah.config import TRANSCRIBER_KEY, ModelSpec, RunSpec
from niah.errors import ConfigError, PermanentModelError
from niah.media.base import HaystackMedia, MediaKind, MediaSummary, Transcriber, load_lazily
from niah.tokenizers import Tokenizer, load_tokenizer, resolve_tokenizer_name

TRANSCRIBERS: dict[str, str] = {
    "ocr": "niah.media.ocr:make_transcriber",
    "asr": "niah.media.asr:make_transcriber",
}
"""Where each stage's transcriber factory lives (tests point these at fakes)."""
FORMS: dict[str, tuple[HaystackMedia, str]] = {"ocr": ("video", "video"), "asr": ("audio", "wav")}
"""The medium each stage reads and the form it wants it in."""

TranscriberFactory = Callable[[dict[str, Any], Path], Transcriber]


def _registry() -> Any:
    from niah.backends import registry  # the registry imports this module

    return registry


def transcriber_factory(stage: str) -> TranscriberFactory:
    factory: TranscriberFactory = load_lazily(
        TRANSCRIBERS[stage], "video" if stage == "ocr" else "audio",
        f"model.id: {stage}+ cascades are not in this niah build")
    return factory


class CascadeBackend(Backend):
    """A transcriber in front of any text backend; see the module docstring."""

    accepts: ClassVar[frozenset[MediaKind]] = frozenset({"video", "audio"})

    def __init__(self, spec: ModelSpec, cache_dir: Path | None = None) -> None:
        super().__init__(spec)
        stage = spec.cascade_stage
        assert stage is not None, spec.id
        self.stage = stage
        self.inner: Backend = _registry().create_backend(spec.text_model)
        self.max_concurrency = self.inner.max_concurrency
        self.remote = self.inner.remote
        self._cache_dir = cache_dir
        self._transcriber: Transcriber | None = None
        self._tokenizer: Tokenizer | None = None

    @classmethod
    def media_form(cls, spec: ModelSpec, haystack: HaystackMedia) -> str | None:
        medium, form = FORMS[spec.cascade_stage or ""]
        return form if haystack == medium else None

    @classmethod
    def media_tokens(cls, spec: ModelSpec, summary: MediaSummary) -> int | None:
        return 0  # the inner model reads a transcript, whose length is known only once made

    @classmethod
    def known_window(cls, spec: ModelSpec) -> int | None:
        return _registry().context_window(spec.text_model)  # type: ignore[no-any-return]

    @classmethod
    def temperature_refusal(cls, spec: ModelSpec) -> str | None:
        inner = _registry().backend_class(spec.text_model)
        return inner.temperature_refusal(spec.text_model) if inner is not None else None

    @classmethod
    def auto_temperature(cls, spec: ModelSpec) -> float | None:
        inner = _registry().backend_class(spec.text_model)
        return inner.auto_temperature(spec.text_model) if inner is not None else 0.0

    @classmethod
    def prompt_cache_refusal(cls, spec: ModelSpec) -> str | None:
        return "a cascade's prompt is a transcript made at run time"

    @classmethod
    def check_model(cls, spec: ModelSpec, run: RunSpec) -> None:
        if (spec.provider.split("+", 1)[1]).partition("+")[1]:
            raise ConfigError("model.id", f"{spec.id}: one cascade stage per model")
        options = spec.options.get(TRANSCRIBER_KEY, {})
        if not isinstance(options, dict):
            raise ConfigError(f"model.options.{TRANSCRIBER_KEY}",
                              "expected a mapping of transcriber settings")
        _registry().check_model(spec.text_model, run)

    def context_window(self) -> int | None:
        return self.spec.context_window or self.inner.context_window()

    @property
    def transcriber(self) -> Transcriber:
        if self._transcriber is None:
            from niah.media.sources import media_cache_dir

            options = dict(self.spec.options.get(TRANSCRIBER_KEY, {}))
            cache = self._cache_dir or media_cache_dir() / self.stage
            self._transcriber = transcriber_factory(self.stage)(options, cache)
        return self._transcriber

    @property
    def tokenizer(self) -> Tokenizer:
        """The inner model's own tokenizer (``tokenizer: auto``), to size the transcript."""
        if self._tokenizer is None:
            name, _ = resolve_tokenizer_name("auto", self.spec.text_model)
            self._tokenizer = load_tokenizer(name)
        return self._tokenizer

    async def prepare(self, max_prompt_tokens: int, max_tokens: int) -> None:
        # the transcript's length is unknown until run time: size for the whole window
        window = self.context_window()
        room = window - max_tokens if window else max_prompt_tokens
        await self.inner.prepare(max(max_prompt_tokens, room), max_tokens)

    retrieval: Any = None
    """A ``niah.rag.transcript.TranscriptRetriever`` when this cascade answers for a RAG
    twin (``rag/ocr+...``, set by ``niah.rag.backend``): the text model then reads only
    the retrieved part of the transcript."""

    async def generate(self, request: Request) -> Completion:
        transcript = await self.transcriber.transcribe(request.media) if request.media else ""
        last = request.messages[-1]
        at = len(last.content) if request.media_at is None else request.media_at
        rag: dict[str, Any] | None = None
        if self.retrieval is not None:
            transcript, rag = self.retrieval.retrieve(transcript, last.content[at:])
        tokens = self.tokenizer.count(transcript)
        prompt_tokens = (request.prompt_tokens or 0) + tokens
        window = self.context_window()
        if window is not None and prompt_tokens + request.max_tokens > window:
            raise PermanentModelError(
                f"{self.stage}: the transcript is {tokens} tokens; the prompt ({prompt_tokens}) "
                f"+ max_tokens {request.max_tokens} exceeds the window of {window} of "
                f"{self.inner.spec.id}", kind="context_length_exceeded")
        text = last.content[:at] + transcript + last.content[at:]
        messages = [*request.messages[:-1], Message(role=last.role, content=text)]
        inner = request.model_copy(update={"messages": messages, "media": (), "media_at": None,
                                           "prompt_tokens": prompt_tokens, "cache": None})
        completion = await self.inner.generate(inner)
        facts = {"transcript_sha256": hashlib.sha256(transcript.encode()).hexdigest(),
                 "transcript_chars": len(transcript), "transcript_tokens": tokens}
        if rag is not None:
            facts["rag"] = rag
        completion.raw = {**(completion.raw or {}), **facts}
        return completion

    async def aclose(self) -> None:
        close = getattr(self._transcriber, "aclose", None)
        if close is not None:
            await close()
        await self.inner.aclose()

    def describe(self) -> dict[str, Any]:
        return {"id": self.spec.id, "cascade": self.stage, "inner": self.inner.describe(),
                "transcriber": dict(self.spec.options.get(TRANSCRIBER_KEY, {}))}
