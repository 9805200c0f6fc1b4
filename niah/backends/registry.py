"""One registry of backends: built-ins by decorator, third parties by entry point.

Factories import their module lazily so a missing optional dependency only matters
when its provider is used, and then says which ``pip install`` fixes it.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from importlib.metadata import entry_points

from niah.backends.base import Backend
from niah.config import ModelSpec
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
}
_registered: dict[str, BackendFactory] = {}


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


def get_factory(provider: str) -> BackendFactory:
    if provider in _registered:
        return _registered[provider]
    if provider in _BUILTIN:
        return _load(_BUILTIN[provider])
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == provider:
            factory: BackendFactory = ep.load()
            return factory
    raise ConfigError(
        "model.id", f"unknown provider {provider!r}; known: {', '.join(providers())}"
    )


def create_backend(spec: ModelSpec) -> Backend:
    """A backend instance for a model spec (``provider/model``)."""
    return get_factory(spec.provider)(spec)


def context_window(spec: ModelSpec) -> int | None:
    """The model's context window, known without an API key or a loaded model: the
    config's ``context_window``, else what the backend knows (``Backend.known_window``)."""
    if spec.context_window is not None:
        return spec.context_window
    factory = get_factory(spec.provider)
    known = getattr(factory, "known_window", None)
    return known(spec) if callable(known) else None
