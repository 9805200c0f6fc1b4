"""``openai/MODEL``: OpenAI's Chat Completions API.

The answer limit is sent as ``max_completion_tokens``: reasoning models (o-series,
gpt-5) refuse the older ``max_tokens``, and their reasoning tokens count against it.
Those models also take no temperature but their default, so ``run.temperature: auto``
sends none to them (gpt-5.1 and later take one with ``reasoning_effort: none``).

Media (video and audio haystacks) go into the last user message as content parts:
frames as ``image_url`` data URLs (``options.detail``), each after its timestamp label
as a text part, and audio as ``input_audio`` (base64 ``wav`` or ``mp3``, the two
formats the API names). Which hosted models take images or audio is OpenAI's to say:
a model that takes neither answers with a 400, recorded as an error row.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

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
from niah.config import ModelSpec
from niah.errors import PermanentModelError
from niah.media.base import HaystackMedia, MediaKind, MediaPart, MediaSummary
from niah.media.tokens import openai_tokens

_REASONING = re.compile(r"(o\d+|gpt-5)([.-].*)?")
"""o1, o3-mini, o4-mini, gpt-5, gpt-5-mini, gpt-5.1, gpt-5.2-2025-12-11, ..."""
_SAMPLING = re.compile(r"gpt-5-chat(-latest)?")
"""gpt-5 models that are not reasoning models and take a temperature."""
_EFFORT_NONE = re.compile(r"gpt-5\.[1-9]\d*(-.*)?")
"""Reasoning models that take a temperature when told not to reason."""


class OpenAIOptions(HTTPOptions):
    """``model.options`` of openai."""

    reserved: ClassVar[frozenset[str]] = frozenset({
        "model", "messages", "temperature", "max_tokens", "max_completion_tokens", "seed",
        "reasoning_effort", "verbosity", "prompt_cache_key",
    })

    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    """Reasoning models: how much to think first. Less thinking leaves more of
    ``run.max_tokens`` for the answer; which values a model takes varies (``minimal``:
    gpt-5, ``none``: gpt-5.1 and later)."""
    verbosity: Literal["low", "medium", "high"] | None = None
    """gpt-5 family: how long the answer is."""
    detail: Literal["low", "high", "auto"] | None = None
    """Frames: the ``image_url`` detail (``low``: a 512 px version for 85 tokens; ``high``:
    512 px tiles); None sends none, which the API treats as ``auto``."""
    audio_format: Literal["wav", "mp3"] = "wav"
    """Audio haystacks: the file format sent in ``input_audio``."""

    def fields(self) -> dict[str, Any]:
        named = {"reasoning_effort": self.reasoning_effort, "verbosity": self.verbosity}
        return {k: v for k, v in named.items() if v is not None}


class OpenAIBackend(HTTPBackend):
    """POST {base_url}/chat/completions with a bearer key."""

    default_base_url: ClassVar[str] = "https://api.openai.com/v1"
    key_envs: ClassVar[tuple[str, ...]] = ("OPENAI_API_KEY",)
    options_model: ClassVar[type[OpenAIOptions]] = OpenAIOptions
    options: OpenAIOptions
    max_tokens_field: ClassVar[str] = "max_completion_tokens"
    """OpenAI renamed ``max_tokens``; newer models reject the old name."""
    prompt_cache_style: ClassVar[PromptCacheStyle | None] = "keyed"
    accepts: ClassVar[frozenset[MediaKind]] = frozenset({"image", "audio"})
    max_images: ClassVar[int | None] = 500
    """OpenAI's vision guide: up to 500 images and 50 MB of image bytes per request."""
    max_image_bytes: ClassVar[int | None] = 50_000_000

    @classmethod
    def media_form(cls, spec: ModelSpec, haystack: HaystackMedia) -> str | None:
        options = parse_options(cls.options_model, spec)
        return "frames" if haystack == "video" else options.audio_format

    @classmethod
    def known_window(cls, spec: ModelSpec) -> int | None:
        return windows.known_window("openai", spec.name)

    @classmethod
    def media_tokens(cls, spec: ModelSpec, summary: MediaSummary) -> int | None:
        return openai_tokens(summary, str(spec.options.get("detail", "high")))

    @classmethod
    def temperature_refusal(cls, spec: ModelSpec) -> str | None:
        name = spec.name.lower()
        if not _REASONING.fullmatch(name) or _SAMPLING.fullmatch(name):
            return None
        effort = parse_options(OpenAIOptions, spec).reasoning_effort
        if effort == "none" and _EFFORT_NONE.fullmatch(name):
            return None
        return "OpenAI reasoning models accept only their default"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}"} if self._key else {}

    def build_body(self, request: Request) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.spec.name, "messages": self.messages(request)}
        if request.temperature is not None:
            body["temperature"] = request.temperature
        body[self.max_tokens_field] = request.max_tokens
        if request.seed is not None:
            body["seed"] = request.seed
        if request.cache is not None and request.cache.key and self.prompt_cache_style:
            body["prompt_cache_key"] = request.cache.key
        return self.with_options(body)

    def messages(self, request: Request) -> list[dict[str, Any]]:
        """Chat messages; with media, the last user message as content parts."""
        if not request.media:
            return [{"role": m.role, "content": Text(m.content)} for m in request.messages]
        _media.check_kinds(self.spec.provider, self.accepts, request.media)
        self.check_images(request.media)
        last = _media.last_user(request.messages)
        return [{"role": m.role,
                 "content": self.media_content(m, request) if i == last else Text(m.content)}
                for i, m in enumerate(request.messages)]

    def check_images(self, parts: Sequence[MediaPart]) -> None:
        """Refuse, before sending, more images than the API takes (a gray row)."""
        images = [p for p in parts if p.kind == "image"]
        provider = self.spec.provider
        if self.max_images is not None and len(images) > self.max_images:
            raise PermanentModelError(f"{provider}: {len(images)} images, more than the "
                                      f"{self.max_images} one request may hold",
                                      kind="too_many_images")
        nbytes = sum(p.nbytes for p in images)
        if self.max_image_bytes is not None and nbytes > self.max_image_bytes:
            raise PermanentModelError(f"{provider}: {nbytes:,} bytes of images, over the "
                                      f"{self.max_image_bytes:,} one request may hold",
                                      kind="request_too_large")

    def media_content(self, message: Message, request: Request) -> list[dict[str, Any]]:
        content: list[dict[str, Any]] = []
        for segment in _media.segments(message, request):
            if isinstance(segment, Text):
                content.append({"type": "text", "text": segment})
            elif isinstance(segment, _media.Label):
                content.append({"type": "text", "text": segment.text})
            else:
                content.append(self.media_part(segment))
        return content

    def media_part(self, part: MediaPart) -> dict[str, Any]:
        """One frame or clip as a content part (OpenAI's shapes)."""
        if part.kind == "image":
            image: dict[str, Any] = {"url": _media.data_url(part)}
            if self.options.detail is not None:
                image["detail"] = self.options.detail
            return {"type": "image_url", "image_url": image}
        fmt = _media.audio_format(self.spec.provider, part)
        return {"type": "input_audio",
                "input_audio": {"data": _media.base64_file(part), "format": fmt}}

    async def generate(self, request: Request) -> Completion:
        url = f"{self.base_url}/chat/completions"
        data = await self.post_json(url, self.headers(), self.build_body(request))
        return parse_choice(self.spec.provider, data, chat=True)


def parse_choice(provider: str, data: dict[str, Any], *, chat: bool) -> Completion:
    """The first choice of a chat or text completion, with usage when reported.

    Empty content is an answer (reasoning models that spent ``max_completion_tokens``
    thinking send ``finish_reason: length`` and no text); no choice at all is not."""
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise bad_response(provider, "response has no choices")
    choice = choices[0]
    finish_reason = choice.get("finish_reason")
    if finish_reason == "content_filter":
        raise PermanentModelError(
            f"{provider}: the answer was withheld by the content filter", kind="content_filtered"
        )
    if chat:
        message = choice.get("message")
        if not isinstance(message, dict):
            raise bad_response(provider, "choice has no message")
        text = message.get("content")
        refusal = message.get("refusal")
        if not text and isinstance(refusal, str) and refusal:
            raise PermanentModelError(f"{provider}: the model refused: {refusal[:200]}",
                                      kind="content_filtered")
    else:
        text = choice.get("text")
    if text is not None and not isinstance(text, str):
        raise bad_response(provider, "answer text is not a string")
    return answer(text or "", parse_usage(data.get("usage")), finish_reason, data.get("id"))


def parse_usage(usage: Any) -> Usage:
    """OpenAI-style usage; servers that omit it give an empty ``Usage``."""
    if not isinstance(usage, dict):
        return Usage()
    details = usage.get("prompt_tokens_details")
    cached = as_int(details.get("cached_tokens")) if isinstance(details, dict) else None
    return Usage(
        prompt_tokens=as_int(usage.get("prompt_tokens")),
        completion_tokens=as_int(usage.get("completion_tokens")),
        cached_tokens=cached,
    )
