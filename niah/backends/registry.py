"""One registry of backends: built-ins by decorator, third parties by entry point.

Factories import their module lazily so a missing optional dependency only matters
when its provider is used, and then says which ``pip install`` fixes it.

What ``plan``, ``build`` and ``run`` check before anything is sent is asked here,
of the backend class, without an API key or a loaded model: ``check_model`` (its
options, its temperature, rules tying the two to the run settings) and
``context_window``. A factory that is a plain function (a third-party plugin) simply
has none of these hooks: its options are then its own business.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from importlib.metadata import entry_points

from pydantic import BaseModel

from niah.backends.base import Backend, PromptCacheStyle, TemperatureSetting, parse_options
from niah.config import CASCADE_STAGES, ModelSpec, RunSpec
from niah.errors import ConfigError

BackendFactory = Callable[[ModelSpec], Backend]
ENTRY_POINT_GROUP = "niah.backends"

_BUILTIN: dict[str, str] = {
    "openai": "niah.backends.openai:OpenAIBackend",
    "openai-compatible": "niah.backends.openai_compatible:OpenAICompatibleBackend",
    "anthropic": "niah.backends.anthropic:AnthropicBackend",
    "gemini": "niah.backends.gemini:GeminiBackend",
    "llamacpp": "niah.backends.llamacpp:LlamaCppBackend",
    "scripted": "niah.backends.scripted:ScriptedBackend",
    "rag": "niah.rag.backend:RagBackend",
}
_registered: dict[str, BackendFactory] = {}
_loaded: dict[str, BackendFactory] = {}


def register(provider: str) -> Callable[[BackendFactory], BackendFactory]:
    """Decorator: make ``provider/...`` ids use this factory."""

    def wrap(factory: BackendFactory) -> BackendFactory:
        _registered[provider] = factory
        return factory

    return wrap


def _load(target: str) -> BackendFactory:
    module, _, attr = target.partition(":")
    factory: BackendFactory = getattr(import_module(module), attr)
    return factory


def providers() -> list[str]:
    """Every known provider name (built-in, registered and entry points)."""
    names = set(_BUILTIN) | set(_registered)
    names |= {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return sorted(names)


def _cascade(provider: str) -> bool:
    stage, plus, inner = provider.partition("+")
    return bool(plus) and stage in CASCADE_STAGES and bool(inner)


def is_known(provider: str) -> bool:
    """A provider of ``providers()``, or a cascade (``ocr+``/``asr+``) in front of one."""
    if _cascade(provider):
        return is_known(provider.partition("+")[2])
    return provider in providers()


def get_factory(provider: str) -> BackendFactory:
    if _cascade(provider):  # ocr+/asr+ in front of any provider's text model
        get_factory(provider.partition("+")[2])  # an unknown inner provider says so
        return _load("niah.backends.cascade:CascadeBackend")
    if provider in _registered:
        return _registered[provider]
    if provider in _loaded:  # asked per request (request_temperature): scan entry points once
        return _loaded[provider]
    if provider in _BUILTIN:
        builtin = _loaded[provider] = _load(_BUILTIN[provider])
        return builtin
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == provider:
            plugin: BackendFactory = ep.load()
            _loaded[provider] = plugin
            return plugin
    raise ConfigError(
        "model.id", f"unknown provider {provider!r}; known: {', '.join(providers())}"
    )


def create_backend(spec: ModelSpec) -> Backend:
    """A backend instance for a model spec (``provider/model``)."""
    return get_factory(spec.provider)(spec)


def backend_class(spec: ModelSpec) -> type[Backend] | None:
    """The backend class of ``spec`` (None for a plugin's plain factory function)."""
    factory = get_factory(spec.provider)
    return factory if isinstance(factory, type) and issubclass(factory, Backend) else None


_backend_class = backend_class


def context_window(spec: ModelSpec) -> int | None:
    """The model's context window, known without an API key or a loaded model: the
    config's ``context_window``, else what the backend knows (``Backend.known_window``)."""
    if spec.context_window is not None:
        return spec.context_window
    cls = _backend_class(spec)
    return cls.known_window(spec) if cls is not None else None


def validate_options(spec: ModelSpec) -> BaseModel | None:
    """``spec.options`` checked by the backend's ``Options`` (None: it declares none)."""
    cls = _backend_class(spec)
    if cls is None or cls.options_model is None:
        return None
    return parse_options(cls.options_model, spec)


def request_temperature(spec: ModelSpec, setting: TemperatureSetting) -> float | None:
    """The temperature requests to ``spec`` carry for ``run.temperature`` (None: none)."""
    cls = _backend_class(spec)
    if cls is None:
        return 0.0 if setting == "auto" else setting
    return cls.request_temperature(spec, setting)


def check_model(spec: ModelSpec, run: RunSpec) -> None:
    """Every check of a model's settings that needs no key and no loaded model; a
    ``ConfigError`` names the field (``model.options.n_threads``, ``run.temperature``)."""
    validate_options(spec)
    request_temperature(spec, run.temperature)
    cls = _backend_class(spec)
    if run.prompt_cache == "on":
        refusal = cls.prompt_cache_refusal(spec) if cls is not None else "unknown backend"
        if refusal:
            raise ConfigError("run.prompt_cache", f"on, but {spec.id} has no prompt cache "
                                                  f"niah can use ({refusal}); use auto or off")
    if cls is not None:
        cls.check_model(spec, run)


def prompt_cache_of(spec: ModelSpec) -> tuple[PromptCacheStyle | None, int]:
    """How ``spec``'s provider caches prompts and its shortest cached prefix (tokens)."""
    cls = _backend_class(spec)
    if cls is None or cls.prompt_cache_refusal(spec) is not None:
        return None, 0
    return cls.prompt_cache_style, cls.min_cached_tokens(spec)
