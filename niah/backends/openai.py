"""``openai/MODEL``: OpenAI's Chat Completions API.

The answer limit is sent as ``max_completion_tokens``: reasoning models (o-series,
gpt-5) refuse the older ``max_tokens``, and their reasoning tokens count against it.
Those models also take no temperature but their default, so ``run.temperature: auto``
sends none to them (gpt-5.1 and later take one with ``reasoning_effort: none``).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from niah.backends import windows
from niah.backends._body import Text
from niah.backends._http import HTTPBackend, HTTPOptions, answer, as_int, bad_response
from niah.backends.base import Completion, PromptCacheStyle, Request, Usage, parse_options
from niah.config import ModelSpec
from niah.errors import PermanentModelError
from niah.media.base import MediaSummary
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
        body: dict[str, Any] = {
            "model": self.spec.name,
            "messages": [{"role": m.role, "content": Text(m.content)} for m in request.messages],
        }
        if request.temperature is not None:
            body["temperature"] = request.temperature
        body[self.max_tokens_field] = request.max_tokens
        if request.seed is not None:
            body["seed"] = request.seed
        if request.cache is not None and request.cache.key and self.prompt_cache_style:
            body["prompt_cache_key"] = request.cache.key
        return self.with_options(body)

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
