"""``gemini/MODEL``: the Gemini API's ``generateContent``.

The key travels in the ``x-goog-api-key`` header, never in the URL, so it cannot
end up in logs of URLs. ``model.options`` are passed through as body fields and
may add keys inside ``generationConfig`` (e.g. ``{"generationConfig": {"topK": 1}}``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from niah.backends._http import (
    PROBE_REQUEST,
    HTTPBackend,
    as_int,
    bad_response,
    merge_options,
    resolve_api_key,
)
from niah.backends.base import Completion, Request, Usage
from niah.config import ModelSpec
from niah.errors import PermanentModelError

FILTERED_FINISH_REASONS = frozenset(
    {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_SAFETY"}
)
"""Finish reasons meaning the answer was withheld; retrying the same prompt will not help."""
_ROLES = {"user": "user", "assistant": "model"}


class GeminiBackend(HTTPBackend):
    """POST {base_url}/models/MODEL:generateContent."""

    default_base_url: ClassVar[str] = "https://generativelanguage.googleapis.com/v1beta"

    def __init__(self, spec: ModelSpec, client: httpx.AsyncClient | None = None) -> None:
        super().__init__(spec, client)
        key = resolve_api_key(spec, ("GEMINI_API_KEY", "GOOGLE_API_KEY"), required=True)
        self._key = self._remember_secret(key) or ""
        self.model = spec.name.removeprefix("models/")
        self.build_body(PROBE_REQUEST)

    def headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self._key, "content-type": "application/json"}

    def build_body(self, request: Request) -> dict[str, Any]:
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        config: dict[str, Any] = {
            "temperature": request.temperature,
            "maxOutputTokens": request.max_tokens,
        }
        if request.seed is not None:
            config["seed"] = request.seed
        body: dict[str, Any] = {
            "contents": [
                {"role": _ROLES[m.role], "parts": [{"text": m.content}]}
                for m in request.messages
                if m.role != "system"
            ],
            "generationConfig": config,
        }
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        merge_options(body, self.spec.options)
        return body

    async def generate(self, request: Request) -> Completion:
        url = f"{self.base_url}/models/{self.model}:generateContent"
        data = await self.post_json(url, self.headers(), self.build_body(request))
        return parse_response(self.spec.provider, data)


def parse_response(provider: str, data: dict[str, Any]) -> Completion:
    """The first candidate's text; blocked prompts and answers are permanent errors."""
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
    parts = content.get("parts") if isinstance(content, dict) else None
    text = "".join(
        p["text"]
        for p in parts or []
        if isinstance(p, dict) and isinstance(p.get("text"), str) and not p.get("thought")
    )
    completion = Completion(
        text=text,
        usage=parse_usage(data.get("usageMetadata")),
        finish_reason=finish_reason if isinstance(finish_reason, str) else None,
        provider_id=data.get("responseId") if isinstance(data.get("responseId"), str) else None,
    )
    metadata = data.get("usageMetadata")
    if isinstance(metadata, dict) and as_int(metadata.get("thoughtsTokenCount")):
        completion.raw = {"thoughts_tokens": metadata["thoughtsTokenCount"]}
    return completion


def parse_usage(metadata: Any) -> Usage:
    """Thinking tokens are billed as output, so they count as completion tokens."""
    if not isinstance(metadata, dict):
        return Usage()
    answer = as_int(metadata.get("candidatesTokenCount"))
    thoughts = as_int(metadata.get("thoughtsTokenCount"))
    completion = None if answer is None and thoughts is None else (answer or 0) + (thoughts or 0)
    return Usage(
        prompt_tokens=as_int(metadata.get("promptTokenCount")),
        completion_tokens=completion,
        cached_tokens=as_int(metadata.get("cachedContentTokenCount")),
    )
