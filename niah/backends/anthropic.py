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
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field

from niah.backends import windows
from niah.backends._body import Text
from niah.backends._http import HTTPBackend, HTTPOptions, answer, as_int, bad_response
from niah.backends.base import Completion, Message, PromptCacheStyle, Request, Usage, parse_options
from niah.config import ModelSpec, RunSpec
from niah.errors import ConfigError, PermanentModelError
from niah.media.base import MediaSummary
from niah.media.tokens import anthropic_tokens

API_VERSION = "2023-06-01"
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

    @staticmethod
    def _content(message: Message, request: Request, *, last: bool) -> Any:
        """The message's text; the last one cut into blocks at the cache hint's cuts."""
        text = message.content
        hint = request.cache
        if not last or hint is None or not hint.marks:
            return Text(text)
        blocks: list[dict[str, Any]] = []
        start = 0
        marks = set(hint.marks)
        for cut in hint.cuts:
            if start < cut < len(text):
                block: dict[str, Any] = {"type": "text", "text": Text((text, start, cut))}
                if cut in marks:
                    block["cache_control"] = {"type": "ephemeral"}
                blocks.append(block)
                start = cut
        blocks.append({"type": "text", "text": Text((text, start, len(text)))})
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
        finally:
            if first:
                assert self._first_write is not None
                self._first_write.set()
        return parse_message(self.spec.provider, data)


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
