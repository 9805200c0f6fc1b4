"""A scripted source for tests and demos: no model, NLL from a known power law.

``scripted/<anything>`` scores the tokens of a window so that their cumulative
average NLL up to position ``x`` is exactly ``alpha * x^-beta + gamma`` (the token at
position ``p >= 2`` gets ``(p-1) L(p) - (p-2) L(p-1)``), plus deterministic noise drawn
from the token id and the position. Runs, resumes, the store and the report can so be
tested in milliseconds against parameters that are known, end to end. It never stands
in for a model in a measurement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from niah.config import ModelSpec
from niah.errors import PermanentModelError
from niah.nll.source import LogprobSource, parse_options


class ScriptedNllOptions(BaseModel):
    """``model.options`` of ``scripted/...`` in an NLL config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alpha: float = Field(default=6.0, ge=0)
    beta: float = Field(default=0.5, ge=0)
    gamma: float = Field(default=1.5, ge=0)
    noise: float = Field(default=0.5, ge=0)
    """Half-width of the uniform noise added to each token's NLL."""
    context_window: int = Field(default=1_000_000, ge=2)
    fail_on_token: int | None = None
    """Raise a permanent model error for any window holding this token id (tests)."""


class ScriptedSource(LogprobSource):
    kind = "scripted"

    def __init__(self, spec: ModelSpec, where: str = "model") -> None:
        super().__init__(spec, where)
        self.options: ScriptedNllOptions = parse_options(ScriptedNllOptions, spec, where)
        self.windows_scored = 0

    @classmethod
    def auto_tokenizer(cls, spec: ModelSpec) -> str | None:
        return "tiktoken:cl100k_base"

    def context_window(self) -> int | None:
        return self.spec.context_window or self.options.context_window

    def score(self, ids: Sequence[int]) -> np.ndarray:
        o = self.options
        tokens = np.asarray(ids, dtype=np.uint64)
        if o.fail_on_token is not None and np.any(tokens == o.fail_on_token):
            raise PermanentModelError(f"scripted: token {o.fail_on_token} fails (as configured)")
        x = np.arange(1, len(tokens) + 1, dtype=np.float64)
        law = o.alpha * x ** -o.beta + o.gamma
        out = np.empty(len(tokens))
        out[0] = np.nan
        out[1:] = (x[1:] - 1) * law[1:] - (x[1:] - 2) * law[:-1]
        # a hash of (token, position) in [0, 1): the same window always scores the same
        h = (tokens * np.uint64(0x9E3779B97F4A7C15) + x.astype(np.uint64) * np.uint64(0xBF58476D))
        u = ((h >> np.uint64(11)) % np.uint64(1 << 20)).astype(np.float64) / float(1 << 20)
        out += o.noise * (2 * u - 1)
        self.windows_scored += 1
        return out.astype(np.float32)

    def describe(self) -> dict[str, Any]:
        return {"id": self.spec.id, "source": self.kind, **self.options.model_dump()}
