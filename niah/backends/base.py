"""The backend protocol: one abstract async method.

Retries, rate limits, caching, timing and cost live in the runner, once. A backend
only turns a ``Request`` into a ``Completion`` or raises a ``ModelError``
(``TransientModelError`` when a retry may help, ``PermanentModelError`` otherwise).
"""

from __future__ import annotations

import abc
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from niah.config import ModelSpec


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["system", "user", "assistant"]
    content: str


class Request(BaseModel):
    """What the runner asks of a backend for one trial."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    messages: list[Message]
    max_tokens: int = 64
    temperature: float = 0.0
    seed: int | None = None
    prompt_tokens: int | None = None
    """Prompt size measured locally, so local backends can size their context."""


class Usage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    """Prompt tokens served from a provider or KV cache."""


class Completion(BaseModel):
    """A backend's answer."""

    model_config = ConfigDict(extra="forbid")

    text: str
    usage: Usage = Field(default_factory=Usage)
    finish_reason: str | None = None
    latency_s: float | None = None
    """Set by the runner if the backend leaves it empty."""
    provider_id: str | None = None
    """The provider's response id, for audits."""
    raw: dict[str, Any] | None = None
    """Extra provider facts worth keeping (e.g. llama.cpp timings); never secrets."""


class Backend(abc.ABC):
    """One model behind one API."""

    max_concurrency: int | None = None
    """Upper bound the runner respects (1 for in-process models)."""
    remote: bool = False
    """The model runs elsewhere, so this machine's spare cores may build prompts."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec

    @abc.abstractmethod
    async def generate(self, request: Request) -> Completion:
        """Answer one request or raise a ``ModelError``."""

    async def prepare(self, max_prompt_tokens: int, max_tokens: int) -> None:  # noqa: B027
        """Optional hook, called once before a run with the plan's largest prompt.

        Local backends size their context window from it.
        """

    @classmethod
    def known_window(cls, spec: ModelSpec) -> int | None:
        """The window this backend knows for ``spec`` without a key or a loaded model
        (a table of hosted models, a GGUF's metadata); ``plan`` checks lengths with it."""
        return None

    def context_window(self) -> int | None:
        """The model's context window in tokens, when known (checked before a run)."""
        return self.spec.context_window or self.known_window(self.spec)

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections or models."""

    def describe(self) -> dict[str, Any]:
        """Facts for the run manifest (no secrets)."""
        return {"id": self.spec.id, "base_url": self.spec.base_url}
