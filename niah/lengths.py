"""What a model's context lengths were counted in, and whether those are its own tokens.

niah counts lengths in the tokenizer a run names (``tokenizer:`` in the config, ``auto``
by default). For ``openai/`` and ``llamacpp/`` models ``auto`` is the model's own; for
Anthropic and Gemini models, whose tokenizers are not published, it is tiktoken's
``cl100k_base``, so their "32K" column is 32K cl100k tokens, not 32K Claude tokens.
Reports say so where the lengths are shown: in the heatmap's title, the summary and the
HTML page. Light (no pandas), like ``niah.checks``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from niah.config import ModelSpec
from niah.rag.config import PREFIX as RAG_PREFIX
from niah.tokenizers import openai_encoding

LengthKind = Literal["exact", "approximate", "estimated", "unknown"]


@dataclass(frozen=True)
class LengthBasis:
    """What one model's context lengths were counted in, and whether that is its own."""

    kind: LengthKind
    tokenizer: str | None
    """As the manifest names it (``tiktoken:cl100k_base``, ``hf:PATH``); None if unrecorded."""

    @property
    def unit(self) -> str:
        """A short name: ``cl100k_base``, ``hf:Llama-3/tokenizer.json``, ``llamacpp:x.gguf``."""
        kind, _, arg = (self.tokenizer or "").partition(":")
        if kind == "tiktoken":
            return arg
        if kind == "hf":
            return f"hf:{Path(Path(arg).parent.name, Path(arg).name).as_posix()}"
        return self.tokenizer or "unrecorded"

    def caption(self) -> str | None:
        """Words for a title when the lengths are not the model's own tokens, else None."""
        if self.kind == "approximate":
            return f"lengths in {self.unit} tokens (approximate for this model)"
        if self.kind == "estimated":
            return "lengths as imported (estimated, not counted by niah)"
        if self.kind == "unknown":
            return "lengths in tokens of an unrecorded tokenizer"
        return None

    def note(self, model: str) -> str | None:
        """A sentence for a summary when the lengths are not the model's own tokens."""
        if self.kind == "approximate":
            return (
                f"{model}: lengths are counted in {self.unit}, not in this model's own tokens, "
                "so they are approximate (a column may hold more or fewer of the model's "
                "tokens); set tokenizer: hf:PATH/tokenizer.json where the model's tokenizer "
                "is published"
            )
        if self.kind == "estimated":
            return f"{model}: lengths are as imported; niah did not count them (estimated)"
        if self.kind == "unknown":
            return f"{model}: the run does not record which tokenizer counted its lengths"
        return None


def length_basis(model: str, tokenizer: str | None, estimated: bool = False) -> LengthBasis:
    """Whether ``model``'s lengths, counted in ``tokenizer``, are in the model's own tokens.

    The one rule, first match wins:

    - ``estimated`` (imported rows whose token counts niah never measured): estimated.
    - no tokenizer recorded (no manifest, or a model it does not list): unknown.
    - ``hf:`` and ``llamacpp:`` tokenizers: exact. ``auto`` gives a ``llamacpp/`` model
      its GGUF's own vocabulary and never picks ``hf:``, so either is the model's own
      or one the user chose for it (``niah.checks.token_mismatch`` catches a bad choice).
    - ``openai/`` models: exact in the tiktoken encoding of that model (o200k for the
      GPT-4o, 4.1, 5 and o-series families, cl100k before), approximate in any other.
    - ``scripted/`` models: exact (no real model: the lengths are what niah counted).
    - anything else (``anthropic/`` and ``gemini/`` counted in cl100k because their
      tokenizers are not published, ``openai-compatible/`` without its own
      tokenizer): approximate.
    """
    if estimated:
        return LengthBasis("estimated", tokenizer)
    if not tokenizer:
        return LengthBasis("unknown", None)
    kind, _, encoding = tokenizer.partition(":")
    # ModelSpec parses ids; a hand-made id without a provider gets provider "".
    spec = ModelSpec.model_construct(id=model if "/" in model else f"/{model}")
    if spec.id.startswith(RAG_PREFIX):  # a RAG twin counts in its answering model's tokens
        spec = ModelSpec.model_construct(id=spec.id[len(RAG_PREFIX):])
    if kind in ("hf", "llamacpp"):
        exact = True
    elif spec.provider == "openai":
        exact = kind == "tiktoken" and encoding == openai_encoding(spec.name)
    else:
        exact = spec.provider == "scripted"
    return LengthBasis("exact" if exact else "approximate", tokenizer)
