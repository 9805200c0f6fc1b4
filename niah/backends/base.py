"""The backend protocol: one abstract async method.

Retries, rate limits, caching, timing and cost live in the runner, once. A backend
only turns a ``Request`` into a ``Completion`` or raises a ``ModelError``
(``TransientModelError`` when a retry may help, ``PermanentModelError`` otherwise).
A reply that came back normally is a ``Completion``, even when its text is empty or
was cut by the token limit: scoring records those as ``empty`` or ``truncated``.

What a backend knows about its models without a key or a loaded model is asked of
the class, so ``niah plan`` can check a config before anything runs: its options
(``options_model``, a ``BackendOptions`` subclass), the window (``known_window``), the
temperature to send (``request_temperature``, from ``temperature_refusal`` and
``auto_temperature``) and rules tying options to the run settings (``check_model``).
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from niah.config import ModelSpec, RunSpec, config_error
from niah.errors import ConfigError
from niah.media.base import HaystackMedia, MediaKind, MediaPart, MediaSummary

TemperatureSetting = float | Literal["auto"] | None
PromptCacheStyle = Literal["breakpoints", "keyed", "implicit"]
"""How a provider caches prompt prefixes: where requests mark them (Anthropic), by a
routing key (OpenAI), or on its own (Gemini 2.5+); see ``niah.prompt_cache``."""
"""``run.temperature``: a number, ``auto`` (the backend decides) or ``None`` (send none)."""


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["system", "user", "assistant"]
    content: str


class CacheHint(BaseModel):
    """Where a request marks its prompt for the provider's prompt cache (``niah.prompt_cache``).

    Answers do not depend on it, so the response cache ignores it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    cuts: tuple[int, ...] = ()
    """Character offsets in the last user message where its text is cut into blocks
    (ascending, inside the haystack before the first needle: the same text in every
    trial that reaches them)."""
    marks: tuple[int, ...] = ()
    """The cuts whose block ends with a cache breakpoint (at most 4)."""
    key: str | None = None
    """A routing key for providers that cache automatically (OpenAI ``prompt_cache_key``)."""


class Request(BaseModel):
    """What the runner asks of a backend for one trial."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    messages: list[Message]
    max_tokens: int = 64
    temperature: float | None = 0.0
    """``None`` sends no temperature: the model's own default applies."""
    seed: int | None = None
    prompt_tokens: int | None = None
    """Prompt size measured locally, so local backends can size their context."""
    prompt_sha256: str | None = None
    """The builder's digest of ``messages``, so the response cache never serialises a
    long prompt again (``niah.cache.request_key``)."""
    cache: CacheHint | None = None
    """Provider prompt-cache marks (``run.prompt_cache``); None sends none."""
    media: tuple[MediaPart, ...] = ()
    """Media of a video or audio haystack, sent in order where the context goes: at
    character ``media_at`` of the last user message (read from disk when sent)."""
    media_at: int | None = None
    """Character offset in the last user message where ``media`` goes (the template's
    ``{context}``); None when there is no media."""


class Usage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    """Prompt tokens read from a provider or KV cache (billed at the cached rate)."""
    cache_write_tokens: int | None = None
    """Prompt tokens written to a provider's prompt cache (Anthropic bills them above
    the input rate)."""


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


class BackendOptions(BaseModel):
    """Base of each backend's ``model.options``: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


OptionsT = TypeVar("OptionsT", bound=BaseModel)


def parse_options(model: type[OptionsT], spec: ModelSpec) -> OptionsT:
    """``spec.options`` validated by ``model``, or a ``model.options.KEY: ...`` error."""
    try:
        return model.model_validate(spec.options)
    except ValidationError as exc:
        error = config_error(exc, prefix="model.options.")
        if exc.errors()[0]["type"] == "extra_forbidden" and "body" in model.model_fields:
            error = ConfigError(error.path, f"{error.message} (fields to send as they are "
                                            "go under model.options.body)")
        raise error from None


class Backend(abc.ABC):
    """One model behind one API."""

    options_model: ClassVar[type[BaseModel] | None] = None
    """The pydantic class of ``model.options``; ``None`` leaves them unchecked."""
    max_concurrency: int | None = None
    """Upper bound the runner respects (1 for in-process models)."""
    remote: bool = False
    """The model runs elsewhere, so this machine's spare cores may build prompts."""
    prompt_cache_style: ClassVar[PromptCacheStyle | None] = None
    """How the provider caches prompts (None: niah uses no provider prompt cache)."""
    accepts: ClassVar[frozenset[MediaKind]] = frozenset()
    """Media parts this backend can send (``image``, ``video``, ``audio``); ``plan``
    refuses a media haystack for a model whose backend takes none of its forms."""

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

    @classmethod
    def temperature_refusal(cls, spec: ModelSpec) -> str | None:
        """Why the model takes no temperature (it rejects any but its default), or None."""
        return None

    @classmethod
    def auto_temperature(cls, spec: ModelSpec) -> float | None:
        """What ``run.temperature: auto`` sends to a model that takes one: 0, as greedy
        as the API allows, unless the provider advises against setting it (None)."""
        return 0.0

    @classmethod
    def request_temperature(cls, spec: ModelSpec, setting: TemperatureSetting) -> float | None:
        """The temperature a request for ``spec`` carries (None: none is sent); a number
        the model rejects is a ``run.temperature`` error, raised before anything runs."""
        refusal = cls.temperature_refusal(spec)
        if setting == "auto":
            return None if refusal else cls.auto_temperature(spec)
        if setting is not None and refusal:
            raise ConfigError("run.temperature", f"{spec.id} takes no temperature ({refusal}); "
                                                 "use auto or null")
        return setting

    @classmethod
    def prompt_cache_refusal(cls, spec: ModelSpec) -> str | None:
        """Why niah cannot use a provider prompt cache for ``spec`` (``run.prompt_cache:
        on`` is then refused), or None when it can."""
        if cls.prompt_cache_style is None:
            return "niah drives no provider prompt cache for this backend"
        return None

    @classmethod
    def media_form(cls, spec: ModelSpec, haystack: HaystackMedia) -> str | None:
        """How this model takes a ``haystack`` medium: video ``"video"`` or ``"frames"``,
        audio ``"wav"`` or ``"mp3"``; None when it cannot (``plan`` refuses, one line)."""
        return None

    @classmethod
    def media_tokens(cls, spec: ModelSpec, summary: MediaSummary) -> int | None:
        """Input tokens of one trial's media for ``spec`` (``niah.media.tokens``), or None
        when the provider documents no count (``plan`` then shows it as unknown)."""
        return None

    @classmethod
    def min_cached_tokens(cls, spec: ModelSpec) -> int:
        """The shortest prefix the provider caches for ``spec``, in tokens."""
        return 1024

    @classmethod  # noqa: B027 - optional hook
    def check_model(cls, spec: ModelSpec, run: RunSpec) -> None:
        """Refuse options this model cannot take, or that the run settings rule out
        (``ConfigError``); called with ``request_temperature`` before anything runs."""

    def context_window(self) -> int | None:
        """The model's context window in tokens, when known (checked before a run)."""
        return self.spec.context_window or self.known_window(self.spec)

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections or models."""

    def describe(self) -> dict[str, Any]:
        """Facts for the run manifest (no secrets)."""
        return {"id": self.spec.id, "base_url": self.spec.base_url}
