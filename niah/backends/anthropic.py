"""``anthropic/MODEL``: Anthropic's Messages API.

The system prompt is a top-level field, ``max_tokens`` is required, and there is no
``seed`` (the API has none; temperature 0 is as deterministic as it gets).
``model.options`` are passed through as body fields (e.g. ``top_k``).
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

API_VERSION = "2023-06-01"


class AnthropicBackend(HTTPBackend):
    """POST {base_url}/messages with ``x-api-key``."""

    default_base_url: ClassVar[str] = "https://api.anthropic.com/v1"

    def __init__(self, spec: ModelSpec, client: httpx.AsyncClient | None = None) -> None:
        super().__init__(spec, client)
        key = resolve_api_key(spec, ("ANTHROPIC_API_KEY",), required=True)
        self._key = self._remember_secret(key) or ""
        self.build_body(PROBE_REQUEST)

    def headers(self) -> dict[str, str]:
        return {
            "x-api-key": self._key,
            "anthropic-version": API_VERSION,
            "content-type": "application/json",
        }

    def build_body(self, request: Request) -> dict[str, Any]:
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        body: dict[str, Any] = {
            "model": self.spec.name,
            "max_tokens": request.max_tokens,
            "messages": [
                {"role": m.role, "content": m.content}
                for m in request.messages
                if m.role != "system"
            ],
            "temperature": request.temperature,
        }
        if system:
            body["system"] = system
        merge_options(body, self.spec.options)
        return body

    async def generate(self, request: Request) -> Completion:
        data = await self.post_json(
            f"{self.base_url}/messages", self.headers(), self.build_body(request)
        )
        return parse_message(self.spec.provider, data)


def parse_message(provider: str, data: dict[str, Any]) -> Completion:
    """Text blocks joined; prompt tokens include the cached and cache-written ones."""
    blocks = data.get("content")
    if not isinstance(blocks, list) or not blocks:
        raise bad_response(provider, "response has no content blocks")
    stop_reason = data.get("stop_reason")
    if stop_reason == "refusal":
        raise PermanentModelError(
            f"{provider}: the model's safety system refused to answer", kind="content_filtered"
        )
    text = "".join(
        b["text"]
        for b in blocks
        if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
    )
    return Completion(
        text=text,
        usage=parse_usage(data.get("usage")),
        finish_reason=stop_reason if isinstance(stop_reason, str) else None,
        provider_id=data.get("id") if isinstance(data.get("id"), str) else None,
    )


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
    )
