"""The registry's checks that need no key and no model: options, temperature, windows."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from niah.backends import registry
from niah.backends.base import Backend, BackendOptions, Completion, Request
from niah.backends.scripted import ScriptedOptions
from niah.config import ModelSpec, RunSpec
from niah.errors import ConfigError


class PluginOptions(BackendOptions):
    colour: str = "red"


class PluginBackend(Backend):
    """A third-party backend class, registered like any other."""

    options_model = PluginOptions

    async def generate(self, request: Request) -> Completion:
        return Completion(text="")


@pytest.fixture(autouse=True)
def _plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry._registered, "plugin", PluginBackend)
    monkeypatch.setitem(registry._registered, "bare", lambda spec: PluginBackend(spec))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (ModelSpec(id="llamacpp/x.gguf", options={"n_threads": 0}),
         r"^model\.options\.n_threads: Input should be greater than or equal to 1$"),
        (ModelSpec(id="scripted/x", options={"recal": 1}),
         r"^model\.options\.recal: unknown key; did you mean 'recall'\?$"),
        (ModelSpec(id="openai/gpt-4o", options={"top_p": 1}),
         r"^model\.options\.top_p: unknown key[^(]*\(fields to send as they are go under "),
        (ModelSpec(id="gemini/gemini-2.5-pro", options={"thinking_budget": "lots"}),
         r"^model\.options\.thinking_budget: "),
        (ModelSpec(id="plugin/x", options={"color": "blue"}), r"^model\.options\.color: unknown"),
    ],
)
def test_options_are_validated_by_the_backend_class(spec: ModelSpec, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        registry.validate_options(spec)
    with pytest.raises(ConfigError, match=message):
        registry.check_model(spec, RunSpec())


def test_valid_options_come_back_parsed() -> None:
    parsed = registry.validate_options(ModelSpec(id="scripted/x", options={"recall": 0.5}))
    assert isinstance(parsed, ScriptedOptions) and parsed.recall == 0.5
    assert isinstance(registry.validate_options(ModelSpec(id="plugin/x")), BaseModel)


def test_a_function_factory_has_no_hooks_and_is_left_alone() -> None:
    spec = ModelSpec(id="bare/x", options={"anything": [1, 2]})
    assert registry.validate_options(spec) is None
    registry.check_model(spec, RunSpec(temperature=0.4))
    assert registry.request_temperature(spec, "auto") == 0.0
    assert registry.request_temperature(spec, None) is None
    assert registry.context_window(spec) is None
    assert registry.context_window(spec.model_copy(update={"context_window": 9})) == 9


@pytest.mark.parametrize(
    ("model_id", "setting", "sent"),
    [("scripted/x", "auto", 0.0), ("scripted/x", 0.7, 0.7), ("scripted/x", None, None),
     ("openai/gpt-4o-mini", "auto", 0.0), ("openai/o3", "auto", None),
     ("anthropic/claude-opus-4-7", "auto", None), ("gemini/gemini-3-pro-preview", "auto", None),
     ("openai-compatible/o3", "auto", 0.0), ("llamacpp/x.gguf", "auto", 0.0)],
)
def test_request_temperature(model_id: str, setting: Any, sent: float | None) -> None:
    assert registry.request_temperature(ModelSpec(id=model_id), setting) == sent


def test_check_model_refuses_a_temperature_the_model_rejects() -> None:
    with pytest.raises(ConfigError) as info:
        registry.check_model(ModelSpec(id="openai/o3"), RunSpec(temperature=0.0))
    assert info.value.path == "run.temperature" and "openai/o3" in info.value.message
    registry.check_model(ModelSpec(id="openai/o3"), RunSpec())  # auto: sends none


def test_context_window_prefers_the_config() -> None:
    assert registry.context_window(ModelSpec(id="openai/gpt-4o-mini")) == 128_000
    spec = ModelSpec(id="openai/gpt-4o-mini", context_window=64_000)
    assert registry.context_window(spec) == 64_000
    scripted = ModelSpec(id="scripted/x", options={"context_window": 500})
    assert registry.context_window(scripted) == 500
    assert registry.context_window(ModelSpec(id="openai-compatible/m")) is None


def test_auto_keeps_the_cache_keys_of_models_that_took_zero() -> None:
    """Stored responses of runs made before ``auto`` existed still hit the cache."""
    from niah.backends.base import Message
    from niah.cache import request_key

    spec = ModelSpec(id="openai/gpt-4o-mini")
    old = Request(messages=[Message(role="user", content="q")], temperature=0.0, seed=0)
    new = old.model_copy(update={"temperature": registry.request_temperature(spec, "auto")})
    assert request_key(spec, new) == request_key(spec, old)
    o3 = ModelSpec(id="openai/o3")  # sends none now: a new key, never a stale answer
    none = old.model_copy(update={"temperature": registry.request_temperature(o3, "auto")})
    assert request_key(o3, none) != request_key(o3, old)
