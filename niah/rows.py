"""The result row: one per (model, trial) in ``results.jsonl``.

``report`` reads only these rows, so every figure can be redrawn without a model.
Bump ``SCHEMA_VERSION`` when a field changes meaning.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


class NeedleResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str
    """The inserted sentence."""
    answer: str
    key: str | None = None
    token_offset: int
    """Token index in the context where the needle starts."""
    depth_percent: float
    """Actual depth: ``token_offset / (context_tokens - needle tokens) * 100``."""
    found: bool | None = None
    """Whether the scorer found this needle's answer (None for error rows)."""
    distractor: bool = False
    """Inserted but not asked for; ``found`` then means the model was distracted."""


class ErrorInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str
    """``transient`` (retries exhausted), ``permanent``, or a finer provider kind."""
    message: str
    status: int | None = None


class UsageInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None


class ResultRow(BaseModel):
    """One scored (or failed) trial."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    trial_id: str
    experiment: str
    model: str
    context_length: int
    """Requested context tokens (haystack + needles)."""
    context_tokens: int
    """Measured context tokens in the model's tokenizer."""
    prompt_tokens: int
    """Measured tokens of the whole prompt (template, question, context), locally."""
    prompt_tokens_reported: int | None = None
    """Prompt tokens as the server counted them, when it says."""
    depth_percent: float
    actual_depth_percent: float
    repeat: int = 0
    needles: list[NeedleResult]
    response: str | None = None
    score: float | None = None
    """Fraction of needles found, 0..1; None when the trial errored."""
    error: ErrorInfo | None = None
    latency_s: float | None = None
    usage: UsageInfo = Field(default_factory=UsageInfo)
    cost_usd: float | None = None
    finish_reason: str | None = None
    attempts: int = 1
    cached: bool = False
    """True when the response came from niah's response cache (nothing was sent)."""
    seed: int
    prompt_sha256: str
    niah_version: str
    timestamp: str
    extra: dict[str, Any] = Field(default_factory=dict)
