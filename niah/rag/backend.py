"""The ``rag`` provider: a ``rag/<model id>`` twin is answered by ``<model id>``'s own
backend. The retrieval happened when the prompt was built (``niah.rag.builder``), so
this wrapper only forwards; what plan and run ask of a backend class (its window, its
temperature, its options) is asked of the answering model's class."""

from __future__ import annotations

from typing import Any

from niah.backends.base import Backend, Completion, Request, TemperatureSetting
from niah.config import ModelSpec, RunSpec


def _inner_class(spec: ModelSpec) -> type[Backend] | None:
    from niah.backends.registry import get_factory

    factory = get_factory(spec.inner.provider)
    return factory if isinstance(factory, type) and issubclass(factory, Backend) else None


class RagBackend(Backend):
    """Forwards every request to the answering model's backend."""

    def __init__(self, spec: ModelSpec) -> None:
        from niah.backends.registry import create_backend

        super().__init__(spec)
        self.inner = create_backend(spec.inner)
        if spec.inner.cascade_stage is not None:  # rag/ocr+..., rag/asr+...: retrieve
            from niah.backends.cascade import CascadeBackend  # from the transcript
            from niah.rag.transcript import TranscriptRetriever

            assert isinstance(self.inner, CascadeBackend), spec.id
            self.inner.retrieval = TranscriptRetriever(spec.rag_settings, self.inner.tokenizer)
        self.max_concurrency = self.inner.max_concurrency
        self.remote = self.inner.remote

    async def generate(self, request: Request) -> Completion:
        return await self.inner.generate(request)

    async def prepare(self, max_prompt_tokens: int, max_tokens: int) -> None:
        await self.inner.prepare(max_prompt_tokens, max_tokens)

    def context_window(self) -> int | None:
        return self.inner.context_window()

    async def aclose(self) -> None:
        await self.inner.aclose()

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(), "id": self.spec.id, "rag": self.spec.rag_settings
                .model_dump(mode="json", exclude_none=True)}

    @classmethod
    def known_window(cls, spec: ModelSpec) -> int | None:
        inner = _inner_class(spec)
        return inner.known_window(spec.inner) if inner is not None else None

    @classmethod
    def request_temperature(cls, spec: ModelSpec, setting: TemperatureSetting) -> float | None:
        inner = _inner_class(spec)
        if inner is None:
            return 0.0 if setting == "auto" else setting
        return inner.request_temperature(spec.inner, setting)

    @classmethod
    def prompt_cache_refusal(cls, spec: ModelSpec) -> str | None:
        return "a RAG twin's prompts share no long prefix"

    @classmethod
    def check_model(cls, spec: ModelSpec, run: RunSpec) -> None:
        from niah.backends.registry import check_model

        if spec.inner.is_rag:
            from niah.errors import ConfigError

            raise ConfigError("model.id", f"{spec.id}: a RAG twin of a RAG twin")
        check_model(spec.inner, run)
