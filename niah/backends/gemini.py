"""``gemini/MODEL``: the Gemini API's ``generateContent``.

The key travels in the ``x-goog-api-key`` header, never in the URL, so it cannot
end up in logs of URLs. Gemini 2.5 and 3 models think before answering and their
thinking tokens count against ``maxOutputTokens`` (``run.max_tokens``): a small limit
can end as ``MAX_TOKENS`` with no text. ``options.thinking_budget`` (2.5) and
``options.thinking_level`` (3) bound the thinking. Google advises leaving Gemini 3 at
its default temperature, so ``run.temperature: auto`` sends none to it.

Media (video and audio haystacks) go into the last user message as parts, after the
text before ``media_at``: a trimmed mp4 or an audio clip as ``inline_data`` (base64)
while the whole request stays under the inline limit (Google raised it from 20 MB to
100 MB, base64 included, in January 2026; ``options.inline_max_bytes``), else the
largest parts are uploaded through the Files API (``niah.backends.gemini_files``) and
referred to by ``file_data``. ``options.video_as: frames`` sends JPEG frames instead,
each after its timestamp label.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field, model_validator

from niah.backends import _media, windows
from niah.backends._body import Text
from niah.backends._http import HTTPBackend, HTTPOptions, answer, as_int, bad_response
from niah.backends.base import (
    Completion,
    Message,
    PromptCacheStyle,
    Request,
    Usage,
    parse_options,
)
from niah.backends.gemini_files import FileStore, UploadedFile
from niah.config import ModelSpec, RunSpec
from niah.errors import ConfigError, PermanentModelError
from niah.media.base import HaystackMedia, MediaKind, MediaPart, MediaSummary
from niah.media.tokens import gemini_tokens

FILTERED_FINISH_REASONS = frozenset(
    {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_SAFETY"}
)
"""Finish reasons meaning the answer was withheld; retrying the same prompt will not help."""
_ROLES = {"user": "user", "assistant": "model"}
_GEMINI_3 = re.compile(r"(models/)?gemini-3([.-].*)?")
INLINE_MAX_BYTES = 100_000_000
"""The inline request limit: 100 MB including base64 (Google, January 2026; was 20 MB)."""
TOKENS_PER_FRAME = 258
"""Gemini samples video at 1 frame per second and counts 258 tokens per frame (and 258
per image up to 384x384 px, else per 768x768 tile); audio is 32 tokens per second."""
TOKENS_PER_AUDIO_SECOND = 32
_IMPLICIT_CACHE = re.compile(r"gemini-(2\.5|[3-9]|\d\d)([.-].*)?")
"""Models Google caches implicitly (2.5 and later)."""


class GeminiOptions(HTTPOptions):
    """``model.options`` of gemini."""

    reserved: ClassVar[frozenset[str]] = frozenset({
        "contents", "systemInstruction", "generationConfig.temperature",
        "generationConfig.maxOutputTokens", "generationConfig.seed",
        "generationConfig.thinkingConfig",
    })

    thinking_budget: int | None = Field(default=None, ge=-1, le=32768)
    """Gemini 2.5: thinking tokens, counted against ``run.max_tokens``; 0 turns thinking
    off (Flash, Flash-Lite), -1 lets the model decide (the default)."""
    thinking_level: Literal["minimal", "low", "medium", "high"] | None = None
    """Gemini 3: how much to think (``high`` by default; ``minimal`` and ``medium``
    only on Flash models)."""
    video_as: Literal["video", "frames"] = "video"
    """Video haystacks: one mp4 clip per trial (``video``) or its frames as images."""
    audio_format: Literal["wav", "mp3"] = "wav"
    """Audio haystacks: the clip's format (mp3 keeps a day of audio under 2 GB)."""
    inline_max_bytes: int = Field(default=INLINE_MAX_BYTES, ge=0, le=INLINE_MAX_BYTES)
    """Requests up to this size (base64 media included) carry media inline; above it
    the largest parts go through the Files API. 0 uploads every part."""

    @model_validator(mode="after")
    def _one_thinking_control(self) -> GeminiOptions:
        if self.thinking_budget is not None and self.thinking_level is not None:
            raise ValueError("set thinking_budget (Gemini 2.5) or thinking_level (Gemini 3), "
                             "not both")
        return self

    def fields(self) -> dict[str, Any]:
        thinking: dict[str, Any] = {}
        if self.thinking_budget is not None:
            thinking["thinkingBudget"] = self.thinking_budget
        if self.thinking_level is not None:
            thinking["thinkingLevel"] = self.thinking_level
        return {"generationConfig": {"thinkingConfig": thinking}} if thinking else {}


class GeminiBackend(HTTPBackend):
    """POST {base_url}/models/MODEL:generateContent."""

    default_base_url: ClassVar[str] = "https://generativelanguage.googleapis.com/v1beta"
    key_envs: ClassVar[tuple[str, ...]] = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    options_model: ClassVar[type[GeminiOptions]] = GeminiOptions
    options: GeminiOptions
    prompt_cache_style: ClassVar[PromptCacheStyle | None] = "implicit"
    accepts: ClassVar[frozenset[MediaKind]] = frozenset({"image", "video", "audio"})

    def __init__(self, spec: ModelSpec, client: httpx.AsyncClient | None = None) -> None:
        super().__init__(spec, client)
        self.files = FileStore(self.spec.provider, self.base_url, self.send, self._key_header,
                               self._secrets)

    def _key_header(self) -> dict[str, str]:
        return {"x-goog-api-key": self._key or ""}

    @classmethod
    def media_form(cls, spec: ModelSpec, haystack: HaystackMedia) -> str | None:
        options = parse_options(GeminiOptions, spec)
        return options.video_as if haystack == "video" else options.audio_format

    @property
    def model(self) -> str:
        return self.spec.name.removeprefix("models/")

    @classmethod
    def known_window(cls, spec: ModelSpec) -> int | None:
        return windows.known_window("gemini", spec.name)

    @classmethod
    def media_tokens(cls, spec: ModelSpec, summary: MediaSummary) -> int | None:
        return gemini_tokens(summary)

    @classmethod
    def prompt_cache_refusal(cls, spec: ModelSpec) -> str | None:
        if _IMPLICIT_CACHE.fullmatch(spec.name.lower().removeprefix("models/")):
            return None
        return "implicit caching starts with Gemini 2.5"

    @classmethod
    def min_cached_tokens(cls, spec: ModelSpec) -> int:
        return 4096 if "pro" in spec.name.lower() else 1024

    @classmethod
    def auto_temperature(cls, spec: ModelSpec) -> float | None:
        # Google: lower temperatures can make Gemini 3 loop or reason worse
        return None if _GEMINI_3.fullmatch(spec.name.lower()) else 0.0

    @classmethod
    def check_model(cls, spec: ModelSpec, run: RunSpec) -> None:
        budget = parse_options(GeminiOptions, spec).thinking_budget
        if budget is not None and budget >= run.max_tokens:
            raise ConfigError("model.options.thinking_budget", f"{budget} leaves no room for "
                              f"the answer in run.max_tokens ({run.max_tokens}), which counts "
                              "thinking tokens too")

    def headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self._key or "", "content-type": "application/json"}

    def build_body(self, request: Request,
                   uploaded: dict[str, UploadedFile] | None = None) -> dict[str, Any]:
        """The request body; media parts in ``uploaded`` (by sha256) go as ``file_data``."""
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        config: dict[str, Any] = {}
        if request.temperature is not None:
            config["temperature"] = request.temperature
        config["maxOutputTokens"] = request.max_tokens
        if request.seed is not None:
            config["seed"] = request.seed
        last = _media.last_user(request.messages) if request.media else None
        body: dict[str, Any] = {
            "contents": [
                {"role": _ROLES[m.role],
                 "parts": (self._media_parts(m, request, uploaded or {}) if i == last
                           else [{"text": Text(m.content)}])}
                for i, m in enumerate(request.messages)
                if m.role != "system"
            ],
            "generationConfig": config,
        }
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        return self.with_options(body)

    @staticmethod
    def _media_parts(message: Message, request: Request,
                     uploaded: dict[str, UploadedFile]) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        for segment in _media.segments(message, request):
            if isinstance(segment, Text):
                parts.append({"text": segment})
            elif isinstance(segment, _media.Label):
                parts.append({"text": segment.text})
            elif segment.sha256 in uploaded:
                file = uploaded[segment.sha256]
                parts.append({"file_data": {"mime_type": file.mime, "file_uri": file.uri}})
            else:
                parts.append({"inline_data": {"mime_type": segment.mime,
                                              "data": _media.base64_file(segment)}})
        return parts

    def to_upload(self, request: Request) -> list[MediaPart]:
        """The largest parts, until what stays inline fits ``options.inline_max_bytes``
        (text plus base64 plus a little JSON per part)."""
        size = sum(len(m.content) if m.content.isascii() else len(m.content.encode("utf-8"))
                   for m in request.messages)
        size += sum(_media.base64_len(p.nbytes) + 128 for p in request.media)
        chosen: list[MediaPart] = []
        seen: set[str] = set()
        for part in sorted(request.media, key=lambda p: p.nbytes, reverse=True):
            if size <= self.options.inline_max_bytes:
                break
            if part.sha256 not in seen:
                seen.add(part.sha256)
                chosen.append(part)
            size -= _media.base64_len(part.nbytes)
        return chosen

    async def generate(self, request: Request) -> Completion:
        uploaded: dict[str, UploadedFile] = {}
        if request.media:
            _media.check_kinds(self.spec.provider, self.accepts, request.media)
            parts = self.to_upload(request)
            files = await asyncio.gather(*(self.files.get(part) for part in parts))
            uploaded = {part.sha256: file for part, file in zip(parts, files, strict=True)}
        url = f"{self.base_url}/models/{self.model}:generateContent"
        data = await self.post_json(url, self.headers(), self.build_body(request, uploaded))
        completion = parse_response(self.spec.provider, data)
        if uploaded:  # which uploads the answer read, to find them again
            names = sorted({f.name for f in uploaded.values()})
            completion.raw = {**(completion.raw or {}), "gemini_files": names}
        return completion


def parse_response(provider: str, data: dict[str, Any]) -> Completion:
    """The first candidate's text; blocked prompts and answers are permanent errors.

    A candidate without parts is an answer when it has a finish reason (``MAX_TOKENS``
    after thinking); a response without candidates is not."""
    feedback = data.get("promptFeedback")
    block = feedback.get("blockReason") if isinstance(feedback, dict) else None
    if block:
        raise PermanentModelError(f"{provider}: prompt blocked ({block})", kind="content_filtered")
    candidates = data.get("candidates")
    if not isinstance(candidates, list) or not candidates or not isinstance(candidates[0], dict):
        raise bad_response(provider, "response has no candidates")
    candidate = candidates[0]
    finish_reason = candidate.get("finishReason")
    if finish_reason in FILTERED_FINISH_REASONS:
        raise PermanentModelError(
            f"{provider}: answer withheld (finishReason {finish_reason})", kind="content_filtered"
        )
    content = candidate.get("content")
    if not isinstance(content, dict) and not isinstance(finish_reason, str):
        raise bad_response(provider, "candidate has neither content nor a finish reason")
    parts = content.get("parts") if isinstance(content, dict) else None
    text = "".join(
        p["text"]
        for p in parts or []
        if isinstance(p, dict) and isinstance(p.get("text"), str) and not p.get("thought")
    )
    metadata = data.get("usageMetadata")
    completion = answer(text, parse_usage(metadata), finish_reason, data.get("responseId"))
    if isinstance(metadata, dict) and as_int(metadata.get("thoughtsTokenCount")):
        completion.raw = {"thoughts_tokens": metadata["thoughtsTokenCount"]}
    return completion


def parse_usage(metadata: Any) -> Usage:
    """Thinking tokens are billed as output, so they count as completion tokens."""
    if not isinstance(metadata, dict):
        return Usage()
    answer_tokens = as_int(metadata.get("candidatesTokenCount"))
    thoughts = as_int(metadata.get("thoughtsTokenCount"))
    completion = (None if answer_tokens is None and thoughts is None
                  else (answer_tokens or 0) + (thoughts or 0))
    return Usage(
        prompt_tokens=as_int(metadata.get("promptTokenCount")),
        completion_tokens=completion,
        cached_tokens=as_int(metadata.get("cachedContentTokenCount")),
    )
