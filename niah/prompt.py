"""A built prompt and the protocol of what builds one.

These types are the seam between prompt building (``niah.haystack.builder`` today,
other tasks and media later) and everything that sends or records prompts (the
runner, the prompt feed, ``niah build``), so neither side imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from niah.plan import Trial
from niah.tokenizers import Tokenizer


@dataclass(frozen=True)
class PlacedNeedle:
    text: str
    answer: str
    key: str | None
    token_offset: int
    """Index of the context token where the needle starts."""
    actual_depth: float
    """Actual depth: haystack tokens before the needle / haystack tokens x 100."""
    distractor: bool = False


@dataclass
class BuiltPrompt:
    trial: Trial
    context: str
    context_tokens: int
    messages: list[dict[str, str]]
    prompt_tokens: int
    needles: list[PlacedNeedle]
    actual_depth: float
    prompt_sha256: str
    question: str
    haystack_tokens: int


class Builder(Protocol):
    """Anything that turns a trial into a ``BuiltPrompt`` in the model's tokenizer."""

    tokenizer: Tokenizer

    def build(self, trial: Trial) -> BuiltPrompt: ...
