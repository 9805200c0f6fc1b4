"""Log-probability sources: what scores a window of tokens, one per provider.

A source turns a window of token ids into the negative log-likelihood of each token
given the tokens before it (nats; the first token has no context and gets NaN):

    llamacpp/<gguf>            in process: every logit of one evaluation, read in batches
    openai-compatible/<model>  a server that returns prompt log-probabilities (vLLM's
                               ``prompt_logprobs``, or ``echo`` with ``logprobs``), after
                               a probe that checks their alignment
    scripted/<name>            a deterministic power law for tests and demos (no model)

Providers that never return prompt log-probabilities are refused before anything runs,
with one line saying why. Sources never retry: the runner does, once, for all of them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from importlib import import_module
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import BaseModel, ValidationError

from niah.config import ModelSpec, config_error
from niah.errors import ConfigError

if TYPE_CHECKING:
    from niah.tokenizers import Tokenizer

REFUSED = {
    "openai": "OpenAI's API returns log-probabilities of generated tokens only, never of "
    "the prompt",
    "anthropic": "Anthropic's API returns no token log-probabilities",
    "gemini": "the Gemini API returns log-probabilities of generated tokens only, never of "
    "the prompt",
}
"""Providers whose APIs cannot give what NLL by position needs, and why."""

SOURCES = {
    "llamacpp": "niah.nll.llamacpp:LlamaCppSource",
    "openai-compatible": "niah.nll.server:ServerSource",
    "scripted": "niah.nll.scripted:ScriptedSource",
}
"""Providers with a log-probability source, and where it lives (imported on use)."""

NEEDS = (
    "NLL by position needs the log-probability of every prompt token (use llamacpp/<gguf> "
    "or openai-compatible/<model> with a server that returns them, e.g. vLLM)"
)


class LogprobSource(ABC):
    """Scores windows of token ids for one model."""

    kind: ClassVar[str]
    max_retries: int = 0
    """Attempts after a transient failure (the runner retries, with backoff)."""
    reserved: int = 0
    """Tokens of the context a request needs beside the window (a generated token)."""

    def __init__(self, spec: ModelSpec, where: str = "model") -> None:
        self.spec = spec
        self.where = where

    @classmethod
    def auto_tokenizer(cls, spec: ModelSpec) -> str | None:
        """The exact tokenizer of ``spec`` when the config says ``auto``, if known."""
        return None

    def context_window(self) -> int | None:
        """The model's context window in tokens, when known."""
        return self.spec.context_window

    def check(self, tokenizer: Tokenizer) -> dict[str, Any]:
        """Verify, before any document, that the values can be trusted; return facts
        for the manifest. Raise ``UserError`` to refuse, with the reason."""
        return {}

    def prepare(self, window: int) -> None:
        """Load what is needed for windows of up to ``window`` tokens."""
        return None

    @abstractmethod
    def score(self, ids: Sequence[int]) -> np.ndarray:
        """float32 NLL of each token of one window given those before it; [0] is NaN."""

    def identity(self) -> dict[str, Any]:
        """What makes two sources give the same numbers (the NLL cache key)."""
        return {"id": self.spec.id, "base_url": self.spec.base_url,
                "options": self.spec.options}

    def describe(self) -> dict[str, Any]:
        return {"id": self.spec.id, "source": self.kind}

    def close(self) -> None:
        return None


def refusal(spec: ModelSpec) -> str | None:
    """Why ``spec`` cannot be measured, or None if a source exists for it."""
    if spec.provider in SOURCES:
        return None
    reason = REFUSED.get(spec.provider, f"niah knows no way to read prompt log-probabilities "
                         f"from provider {spec.provider!r}")
    return f"{spec.id} cannot be measured: {reason}; {NEEDS}"


def source_class(spec: ModelSpec, where: str = "model") -> type[LogprobSource]:
    reason = refusal(spec)
    if reason is not None:
        raise ConfigError(f"{where}.id", reason)
    module, _, name = SOURCES[spec.provider].partition(":")
    cls: type[LogprobSource] = getattr(import_module(module), name)
    return cls


def open_source(spec: ModelSpec, where: str = "model") -> LogprobSource:
    """The source for ``spec`` (nothing loaded yet), or a ``ConfigError`` saying why not."""
    return source_class(spec, where)(spec, where)


def parse_options(model: type[BaseModel], spec: ModelSpec, where: str) -> Any:
    """``spec.options`` validated by a source's options model (errors name the field)."""
    try:
        return model.model_validate(spec.options)
    except ValidationError as exc:
        raise config_error(exc, prefix=f"{where}.options.") from None


def nll_from_logits(
    logits: np.ndarray, targets: np.ndarray, out: np.ndarray, scratch: np.ndarray
) -> None:
    """``out[i] = logsumexp(logits[i]) - logits[i, targets[i]]`` without a full-size
    temporary: rows are taken ``len(scratch)`` at a time into a reused buffer."""
    step = scratch.shape[0]
    for start in range(0, len(targets), step):
        rows = logits[start:start + step]
        k = rows.shape[0]
        buf = scratch[:k]
        peak = rows.max(axis=1)
        np.subtract(rows, peak[:, None], out=buf)
        np.exp(buf, out=buf)
        lse = np.log(buf.sum(axis=1)) + peak
        out[start:start + k] = lse - rows[np.arange(k), targets[start:start + k]]
