"""``openai-compatible/MODEL``: vLLM, llama.cpp server, Ollama, LM Studio, TGI, ...

The OpenAI protocol at a required ``model.base_url``. The key is optional and only
read from ``model.api_key_env``: an OpenAI key is never sent to another server.
``model.options.mode`` picks ``chat`` (default) or ``completions`` (raw prompt, for
base models); every other option is passed through as a body field (e.g. ``top_k``).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from niah.backends._http import merge_options, resolve_api_key
from niah.backends.base import Completion, Request
from niah.backends.openai import OpenAIBackend, parse_choice
from niah.config import ModelSpec, config_error
from niah.errors import ConfigError


class CompatibleOptions(BaseModel):
    """``model.options`` of openai-compatible; unknown keys are body pass-through."""

    model_config = ConfigDict(extra="allow", frozen=True)

    mode: Literal["chat", "completions"] = "chat"
    """``completions`` sends one plain-text prompt to /completions (base models)."""


class OpenAICompatibleBackend(OpenAIBackend):
    """An OpenAI-protocol server run by someone other than OpenAI."""

    key_envs: ClassVar[tuple[str, ...]] = ()
    max_tokens_field: ClassVar[str] = "max_tokens"
    """The name every compatible server understands."""

    def __init__(self, spec: ModelSpec, client: httpx.AsyncClient | None = None) -> None:
        if not spec.base_url:
            raise ConfigError(
                "model.base_url", "is required for openai-compatible (e.g. http://127.0.0.1:8080/v1)"
            )
        try:
            self.options = CompatibleOptions.model_validate(spec.options)
        except ValidationError as exc:
            raise config_error(exc, prefix="model.options.") from None
        super().__init__(spec, client)

    def _resolve_key(self) -> str | None:
        return resolve_api_key(self.spec, (), required=False)

    def _extra_options(self) -> dict[str, Any]:
        return dict(self.options.model_extra or {})

    def build_body(self, request: Request) -> dict[str, Any]:
        if self.options.mode == "chat":
            return super().build_body(request)
        body: dict[str, Any] = {
            "model": self.spec.name,
            "prompt": render_prompt(request),
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        merge_options(body, self._extra_body)
        return body

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
    return "\n\n".join(m.content for m in request.messages if m.content)
