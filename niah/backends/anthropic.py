"""``anthropic/MODEL``: Anthropic's Messages API.

The system prompt is a top-level field, ``max_tokens`` is required and counts thinking
and answer together, and there is no ``seed`` (temperature 0 is as deterministic as it
gets). Claude models from Opus 4.7 and Sonnet 5 take no temperature but their default
and think adaptively (on by default from Sonnet 5 and Opus 5); earlier ones think only
when given ``options.thinking_budget``, which rules out a temperature too.

Prompt caching (``run.prompt_cache``, see ``niah.prompt_cache``): a request with
cache marks sends its user message as text blocks cut where ``Request.cache`` says,
with ``cache_control`` on the marked ones. Anthropic makes a cache entry usable only
once the request that writes it has begun answering, and advises waiting for that
first answer before sending requests meant to hit it; so the first request that marks
a cache goes alone, and the others wait for its answer, once per backend.

Media (video haystacks): frames as base64 ``image`` blocks, each after its timestamp
label as a text block. Claude takes no video or audio, so ``media_form`` gives frames
for video and None for audio. Anthropic's vision guide (checked 2026-12): at most 100
images per request for models with a 200k-token window and 600 for the others, each at
most 8000x8000 px, or 2000x2000 px when a request holds more than 20, and 32 MB per
request. A trial beyond those is refused before it is sent, as a permanent error
(``too_many_images``, ``image_too_large``, ``request_too_large``): a gray cell, as the
Gemini 1.5 report drew GPT-4V's API limit.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field

from niah.backends import _media, windows
from niah.backends._body import Text
from niah.backends._http import HTTPBackend, HTTPOptions, answer, as_int, bad_response
from niah.backends.base import Completion, Message, PromptCacheStyle, Request, Usage, parse_options
from niah.config import ModelSpec, RunSpec
from niah.errors import ConfigError, ModelError, PermanentModelError
from niah.media.base import HaystackMedia, MediaKind, MediaSummary
from niah.media.tokens import anthropic_tokens

API_VERSION = "2023-06-01"
MAX_IMAGES = 100
"""Images per request for models with a 200k-token window (600 for larger windows)."""
MAX_IMAGES_LARGE_WINDOW = 600
MAX_SIDE, MAX_SIDE_MANY, MANY_IMAGES = 8000, 2000, 20
MAX_REQUEST_BYTES = 32_000_000
"""The Messages API's request size limit (32 MB)."""
ADAPTIVE_FROM = (4, 7)
"""Claude versions from here on take no temperature and no thinking budget."""


class AnthropicOptions(HTTPOptions):
    """``model.options`` of anthropic."""

    reserved: ClassVar[frozenset[str]] = frozenset({
        "model", "max_tokens", "messages", "system", "temperature", "thinking",
        "output_config.effort", "cache_control",
    })

    thinking_budget: int | None = Field(default=None, ge=1024)
    """Extended thinking with up to this many tokens (Claude 3.7 Sonnet to the 4.6
    models, Haiku 4.5); must stay below ``run.max_tokens``, which it counts against."""
    effort: Literal["low", "medium", "high", "xhigh", "max"] | None = None
    """``output_config.effort``: how much models with adaptive thinking (Opus 4.6 and
    later, Sonnet 5) think and write; which levels a model takes varies."""
    max_images: int | None = Field(default=None, ge=1)
    """Images one request may hold; None: Anthropic's limit for the model's window
    (100 up to 200k tokens, else 600). More frames make the trial an error row."""

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.thinking_budget is not None:
            out["thinking"] = {"type": "enabled", "budget_tokens": self.thinking_budget}
        if self.effort is not None:
            out["output_config"] = {"effort": self.effort}
        return out


MIN_CACHED_TOKENS = {("opus", 4, 5): 4096, ("opus", 4, 6): 4096, ("sonnet", 4, 6): 2048,
                     ("haiku", 4, 5): 4096, ("haiku", 3, 5): 2048, ("haiku", 3, 0): 2048}
"""Anthropic's minimum cacheable prompt per model (1024 for the other Claude 3.7-4.5
models); newer models than the list get the largest, 4096."""


def _adaptive_only(spec: ModelSpec) -> bool:
    version = windows.claude_version(spec.name)
    return version is not None and version[1:] >= ADAPTIVE_FROM


class AnthropicBackend(HTTPBackend):
    """POST {base_url}/messages with ``x-api-key``."""

    default_base_url: ClassVar[str] = "https://api.anthropic.com/v1"
    key_envs: ClassVar[tuple[str, ...]] = ("ANTHROPIC_API_KEY",)
    options_model: ClassVar[type[AnthropicOptions]] = AnthropicOptions
    options: AnthropicOptions
    prompt_cache_style: ClassVar[PromptCacheStyle | None] = "breakpoints"
    accepts: ClassVar[frozenset[MediaKind]] = frozenset({"image"})

    @classmethod
    def media_form(cls, spec: ModelSpec, haystack: HaystackMedia) -> str | None:
        return "frames" if haystack == "video" else None

    def max_images(self) -> int:
        if self.options.max_images is not None:
            return self.options.max_images
        window = self.context_window()
        return MAX_IMAGES_LARGE_WINDOW if window and window > 200_000 else MAX_IMAGES

    def check_media(self, request: Request) -> None:
        """Refuse, before sending, a trial beyond the API's image limits (a gray row)."""
        provider = self.spec.provider
        _media.check_kinds(provider, self.accepts, request.media,
                           " (Claude takes images only: send a video haystack as frames)")
        limit = self.max_images()
        if len(request.media) > limit:
            raise PermanentModelError(f"{provider}: {len(request.media)} images, more than the "
                                      f"{limit} one request may hold", kind="too_many_images")
        side = MAX_SIDE_MANY if len(request.media) > MANY_IMAGES else MAX_SIDE
        size = sum(len(m.content.encode("utf-8")) for m in request.messages)
        for part in request.media:
            width, height = _media.image_size(part)
            if max(width, height) > side:
                raise PermanentModelError(f"{provider}: a {width}x{height} frame is larger than "
                                          f"the {side}x{side} px allowed with "
                                          f"{len(request.media)} images", kind="image_too_large")
            size += _media.base64_len(part.nbytes)
        if size > MAX_REQUEST_BYTES:
            raise PermanentModelError(f"{provider}: the request would be about {size:,} bytes, "
                                      f"over the {MAX_REQUEST_BYTES:,} allowed",
                                      kind="request_too_large")

    def __init__(self, spec: ModelSpec, client: httpx.AsyncClient | None = None) -> None:
        super().__init__(spec, client)
        self._first_write: asyncio.Event | None = None

    @classmethod
    def min_cached_tokens(cls, spec: ModelSpec) -> int:
        version = windows.claude_version(spec.name)
        if version is None or version[1:] > (4, 6):
            return 4096
        return MIN_CACHED_TOKENS.get(version, 1024)

    @classmethod
    def known_window(cls, spec: ModelSpec) -> int | None:
        return windows.known_window("anthropic", spec.name)

    @classmethod
    def media_tokens(cls, spec: ModelSpec, summary: MediaSummary) -> int | None:
        return anthropic_tokens(summary)

    @classmethod
    def temperature_refusal(cls, spec: ModelSpec) -> str | None:
        if _adaptive_only(spec):
            return "Claude models from Opus 4.7 and Sonnet 5 accept only their default"
        if parse_options(AnthropicOptions, spec).thinking_budget is not None:
            return "extended thinking (options.thinking_budget) works only at the default"
        return None

    @classmethod
    def check_model(cls, spec: ModelSpec, run: RunSpec) -> None:
        budget = parse_options(AnthropicOptions, spec).thinking_budget
        if budget is None:
            return
        if _adaptive_only(spec):
            raise ConfigError("model.options.thinking_budget", f"{spec.id} thinks adaptively "
                              "and refuses a thinking budget; set options.effort instead")
        if budget >= run.max_tokens:
            raise ConfigError("model.options.thinking_budget", f"{budget} must be below "
                              f"run.max_tokens ({run.max_tokens}), which counts thinking "
                              "and answer together")

    def headers(self) -> dict[str, str]:
        return {
            "x-api-key": self._key or "",
            "anthropic-version": API_VERSION,
            "content-type": "application/json",
        }

    def build_body(self, request: Request) -> dict[str, Any]:
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        turns = [m for m in request.messages if m.role != "system"]
        body: dict[str, Any] = {
            "model": self.spec.name,
            "max_tokens": request.max_tokens,
            "messages": [
                {"role": m.role, "content": self._content(m, request, last=i == len(turns) - 1)}
                for i, m in enumerate(turns)
            ],
        }
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if system:
            body["system"] = system
        return self.with_options(body)

    def _content(self, message: Message, request: Request, *, last: bool) -> Any:
        """The message's text; the last one cut into blocks at the cache hint's cuts, with
        the media's label and image blocks at ``media_at``."""
        text = message.content
        hint = request.cache
        marked = hint is not None and bool(hint.marks)
        if not last or not (marked or request.media):
            return Text(text)
        if not request.media:
            return _text_blocks(text, 0, len(text), request)
        self.check_media(request)
        blocks: list[dict[str, Any]] = []
        for segment in _media.segments(message, request):
            if isinstance(segment, Text):
                _, start, end = segment.parts[0]
                blocks.extend(_text_blocks(text, start, end, request))
            elif isinstance(segment, _media.Label):
                blocks.append({"type": "text", "text": segment.text})
            else:
                blocks.append({"type": "image", "source": {
                    "type": "base64", "media_type": segment.mime,
                    "data": _media.base64_file(segment)}})
        return blocks

    async def generate(self, request: Request) -> Completion:
        writes = request.cache is not None and bool(request.cache.marks)
        first = False
        if writes:
            if self._first_write is None:
                self._first_write, first = asyncio.Event(), True
            else:
                await self._first_write.wait()
        try:
            data = await self.post_json(
                f"{self.base_url}/messages", self.headers(), self.build_body(request)
            )
        except ModelError as exc:
            if exc.status == 400 and "too much media" in str(exc).lower():
                raise PermanentModelError(str(exc), kind="too_many_images",
                                          status=400) from exc
            raise
        finally:
            if first:
                assert self._first_write is not None
                self._first_write.set()
        return parse_message(self.spec.provider, data)


def _text_blocks(text: str, start: int, end: int, request: Request) -> list[dict[str, Any]]:
    """Text blocks of ``text[start:end]``, cut at the cache hint's cuts inside it, with
    ``cache_control`` on the marked ones."""
    blocks: list[dict[str, Any]] = []
    hint = request.cache
    cuts = hint.cuts if hint is not None and hint.marks else ()
    marks = set(hint.marks) if hint is not None else set()
    for cut in cuts:
        if start < cut < end:
            block: dict[str, Any] = {"type": "text", "text": Text((text, start, cut))}
            if cut in marks:
                block["cache_control"] = {"type": "ephemeral"}
            blocks.append(block)
            start = cut
    tail: dict[str, Any] = {"type": "text", "text": Text((text, start, end))}
    if end < len(text) and end in cuts and end in marks:  # a mark just before the media
        tail["cache_control"] = {"type": "ephemeral"}
    blocks.append(tail)
    return blocks


def parse_message(provider: str, data: dict[str, Any]) -> Completion:
    """Text blocks joined; prompt tokens include the cached and cache-written ones.

    A message without text is an answer when it says why it stopped (``max_tokens``
    after thinking, or an empty ``end_turn``); one without content blocks is not."""
    blocks = data.get("content")
    stop_reason = data.get("stop_reason")
    if not isinstance(blocks, list) or not (blocks or isinstance(stop_reason, str)):
        raise bad_response(provider, "response has no content blocks")
    if stop_reason == "refusal":
        raise PermanentModelError(
            f"{provider}: the model's safety system refused to answer", kind="content_filtered"
        )
    text = "".join(
        b["text"]
        for b in blocks
        if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
    )
    return answer(text, parse_usage(data.get("usage")), stop_reason, data.get("id"))


def parse_usage(usage: Any) -> Usage:
    """Anthropic counts fresh, cache-read and cache-written input tokens apart."""
    if not isinstance(usage, dict):
        return Usage()
    fresh = as_int(usage.get("input_tokens"))
    read = as_int(usage.get("cache_read_input_tokens"))
    written = as_int(usage.get("cache_creation_input_tokens"))
    prompt = None if fresh is None else fresh + (read or 0) + (written or 0)
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=as_int(usage.get("output_tokens")),
        cached_tokens=read,
        cache_write_tokens=written,
    )
