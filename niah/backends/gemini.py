"""``gemini/MODEL``: the Gemini API's ``generateContent``.

The key travels in the ``x-goog-api-key`` header, never in the URL, so it cannot
end up in logs of URLs. Gemini 2.5 and 3 models think before answering and their
thinking tokens count against ``maxOutputTokens`` (``run.max_tokens``): a small limit
can end as ``MAX_TOKENS`` with no text. ``options.thinking_budget`` (2.5) and
``options.thinking_level`` (3) bound the thinking. Google advises leaving Gemini 3 at
its default temperature, so ``run.temperature: auto`` sends none to it.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from niah.backends import windows
from niah.backends._body import Text
from niah.backends._http import HTTPBackend, HTTPOptions, answer, as_int, bad_response
from niah.backends.base import Completion, PromptCacheStyle, Request, Usage, parse_options
from niah.config import ModelSpec, RunSpec
from niah.errors import ConfigError, PermanentModelError
from niah.media.base import MediaSummary
from niah.media.tokens import gemini_tokens

FILTERED_FINISH_REASONS = frozenset(
    {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_SAFETY"}
)
"""Finish reasons meaning the answer was withheld; retrying the same prompt will not help."""
_ROLES = {"user": "user", "assistant": "model"}
_GEMINI_3 = re.compile(r"(models/)?gemini-3([.-].*)?")
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

    def build_body(self, request: Request) -> dict[str, Any]:
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        config: dict[str, Any] = {}
        if request.temperature is not None:
            config["temperature"] = request.temperature
        config["maxOutputTokens"] = request.max_tokens
        if request.seed is not None:
            config["seed"] = request.seed
        body: dict[str, Any] = {
            "contents": [
                {"role": _ROLES[m.role], "parts": [{"text": Text(m.content)}]}
                for m in request.messages
                if m.role != "system"
            ],
            "generationConfig": config,
        }
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        return self.with_options(body)

    async def generate(self, request: Request) -> Completion:
        url = f"{self.base_url}/models/{self.model}:generateContent"
        data = await self.post_json(url, self.headers(), self.build_body(request))
        return parse_response(self.spec.provider, data)


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
