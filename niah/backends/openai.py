"""``openai/MODEL``: OpenAI's Chat Completions API.

``model.options`` are passed through as extra body fields (e.g. ``reasoning_effort``);
one that collides with a field niah sets is a config error.
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


class OpenAIBackend(HTTPBackend):
    """POST {base_url}/chat/completions with a bearer key."""

    default_base_url: ClassVar[str] = "https://api.openai.com/v1"
    key_envs: ClassVar[tuple[str, ...]] = ("OPENAI_API_KEY",)
    max_tokens_field: ClassVar[str] = "max_completion_tokens"
    """OpenAI renamed ``max_tokens``; newer models reject the old name."""

    def __init__(self, spec: ModelSpec, client: httpx.AsyncClient | None = None) -> None:
        super().__init__(spec, client)
        self._key = self._remember_secret(self._resolve_key())
        self._extra_body = self._extra_options()
        self.build_body(PROBE_REQUEST)

    def _resolve_key(self) -> str | None:
        return resolve_api_key(self.spec, self.key_envs, required=True)

    def _extra_options(self) -> dict[str, Any]:
        return dict(self.spec.options)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}"} if self._key else {}

    def build_body(self, request: Request) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.spec.name,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "temperature": request.temperature,
            self.max_tokens_field: request.max_tokens,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        merge_options(body, self._extra_body)
        return body

    async def generate(self, request: Request) -> Completion:
        url = f"{self.base_url}/chat/completions"
        data = await self.post_json(url, self.headers(), self.build_body(request))
        return parse_choice(self.spec.provider, data, chat=True)


def parse_choice(provider: str, data: dict[str, Any], *, chat: bool) -> Completion:
    """The first choice of a chat or text completion, with usage when reported."""
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
    else:
        text = choice.get("text")
    if text is not None and not isinstance(text, str):
        raise bad_response(provider, "answer text is not a string")
    return Completion(
        text=text or "",
        usage=parse_usage(data.get("usage")),
        finish_reason=finish_reason if isinstance(finish_reason, str) else None,
        provider_id=data.get("id") if isinstance(data.get("id"), str) else None,
    )


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
