"""``openai-compatible/MODEL``: vLLM, llama.cpp server, Ollama, LM Studio, TGI, ...

The OpenAI protocol at a required ``model.base_url``. The key is optional and only
read from ``model.api_key_env``: an OpenAI key is never sent to another server.
``model.options.mode`` picks ``chat`` (default) or ``completions`` (raw prompt, for
base models); sampling fields a server understands go in ``options.body``
(e.g. ``{top_k: 1}``).

Media: frames as ``image_url`` parts, as OpenAI; ``options.video_as: video`` sends a
video haystack as one ``video_url`` data URL instead (vLLM and SGLang serving video
models), and ``options.audio_as: audio_url`` sends audio as an ``audio_url`` data URL
rather than ``input_audio`` (vLLM takes both for Qwen2-Audio and Ultravox).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import httpx

from niah.backends import _media
from niah.backends._body import Text
from niah.backends.base import Completion, PromptCacheStyle, Request, parse_options
from niah.backends.openai import OpenAIBackend, OpenAIOptions, parse_choice
from niah.config import ModelSpec
from niah.errors import ConfigError, PermanentModelError
from niah.media.base import HaystackMedia, MediaKind, MediaPart


class CompatibleOptions(OpenAIOptions):
    """``model.options`` of openai-compatible (``reasoning_effort`` and ``verbosity``
    are sent to servers that take them, e.g. vLLM serving gpt-oss)."""

    reserved: ClassVar[frozenset[str]] = (
        OpenAIOptions.reserved - {"prompt_cache_key"}  # niah sends none: a server may take one
    ) | {"prompt"}

    mode: Literal["chat", "completions"] = "chat"
    """``completions`` sends one plain-text prompt to /completions (base models)."""
    video_as: Literal["frames", "video"] = "frames"
    """Video haystacks: ``frames`` (``image_url`` parts) or ``video`` (one mp4 as a
    ``video_url`` part, for servers with video models)."""
    audio_as: Literal["input_audio", "audio_url"] = "input_audio"
    """Audio haystacks: OpenAI's ``input_audio`` part or an ``audio_url`` data URL."""


class OpenAICompatibleBackend(OpenAIBackend):
    """An OpenAI-protocol server run by someone other than OpenAI."""

    key_envs: ClassVar[tuple[str, ...]] = ()
    key_required: ClassVar[bool] = False
    options_model: ClassVar[type[CompatibleOptions]] = CompatibleOptions
    options: CompatibleOptions
    max_tokens_field: ClassVar[str] = "max_tokens"
    """The name every compatible server understands."""
    prompt_cache_style: ClassVar[PromptCacheStyle | None] = None
    """vLLM, SGLang and llama.cpp reuse prefixes on their own (the prefix order feeds
    them); an unknown server may refuse ``prompt_cache_key``, so none is sent."""

    accepts: ClassVar[frozenset[MediaKind]] = frozenset({"image", "video", "audio"})
    max_images: ClassVar[int | None] = None  # the server's own limits (vLLM: --limit-mm-per-prompt)
    max_image_bytes: ClassVar[int | None] = None

    @classmethod
    def media_form(cls, spec: ModelSpec, haystack: HaystackMedia) -> str | None:
        options = parse_options(CompatibleOptions, spec)
        if options.mode == "completions":
            return None  # a plain-text prompt has nowhere to put media
        return options.video_as if haystack == "video" else options.audio_format

    def __init__(self, spec: ModelSpec, client: httpx.AsyncClient | None = None) -> None:
        if not spec.base_url:
            raise ConfigError(
                "model.base_url", "is required for openai-compatible (e.g. http://127.0.0.1:8080/v1)"
            )
        super().__init__(spec, client)

    @classmethod
    def known_window(cls, spec: ModelSpec) -> int | None:
        return None  # any model at all: set model.context_window

    @classmethod
    def temperature_refusal(cls, spec: ModelSpec) -> str | None:
        return None  # servers that ignore a temperature do not reject it

    def media_part(self, part: MediaPart) -> dict[str, Any]:
        if part.kind == "video":
            return {"type": "video_url", "video_url": {"url": _media.data_url(part)}}
        if part.kind == "audio" and self.options.audio_as == "audio_url":
            return {"type": "audio_url", "audio_url": {"url": _media.data_url(part)}}
        return super().media_part(part)

    def build_body(self, request: Request) -> dict[str, Any]:
        if self.options.mode == "chat":
            return super().build_body(request)
        if request.media:
            raise PermanentModelError(f"{self.spec.provider}: options.mode completions sends "
                                      "plain text and cannot carry media",
                                      kind="unsupported_media")
        body: dict[str, Any] = {"model": self.spec.name, "prompt": prompt_text(request)}
        if request.temperature is not None:
            body["temperature"] = request.temperature
        body["max_tokens"] = request.max_tokens
        if request.seed is not None:
            body["seed"] = request.seed
        return self.with_options(body)

    async def generate(self, request: Request) -> Completion:
        chat = self.options.mode == "chat"
        url = f"{self.base_url}/{'chat/completions' if chat else 'completions'}"
        data = await self.post_json(url, self.headers(), self.build_body(request))
        completion = parse_choice(self.spec.provider, data, chat=chat)
        timings = data.get("timings")
        if isinstance(timings, dict):  # llama.cpp server: prompt_n, predicted_n, cache_n, ...
            completion.raw = {"timings": timings}
        return completion

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "mode": self.options.mode}


def render_prompt(request: Request) -> str:
    """Messages as plain text for a base model: system, blank line, user text."""
    return str(prompt_text(request))


def prompt_text(request: Request) -> Text:
    """``render_prompt`` without joining: a long prompt is streamed, not copied."""
    parts: list[str] = []
    for m in request.messages:
        if m.content:
            parts.extend(["\n\n", m.content] if parts else [m.content])
    return Text(*parts)
