"""A built prompt and the protocol of what builds one.

These types are the seam between prompt building (``niah.haystack.builder`` today,
other tasks and media later) and everything that sends or records prompts (the
runner, the prompt feed, ``niah build``), so neither side imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from niah.media.base import MediaPart
from niah.plan import Trial
from niah.tokenizers import Tokenizer

if TYPE_CHECKING:
    from niah.results import ErrorInfo


@dataclass(frozen=True)
class PlacedNeedle:
    text: str
    answer: str
    key: str | None
    token_offset: int
    """Index of the context token where the needle starts."""
    actual_depth: float
    """Actual depth: haystack tokens before the needle / haystack tokens x 100 (media:
    the needle's second / the duration x 100, as the source measured it)."""
    distractor: bool = False
    time_s: float | None = None
    """Media: where the needle starts on the trial's timeline, in seconds."""
    index: int | None = None
    """Media: the needle's frame index (video) or sample index (audio)."""


CACHE_BLOCK_TOKENS = 1024
"""Spacing of the fixed cuts a prompt's shared haystack prefix is split at for provider
prompt caches (``BuiltPrompt.cache_cuts``, ``niah.prompt_cache``)."""


@dataclass
class BuiltPrompt:
    """One trial's prompt. The context is held once, inside the user message."""

    trial: Trial
    context_span: tuple[int, int]
    """Where the context lies in the last (user) message's content: [start, end)."""
    context_tokens: int
    messages: list[dict[str, str]]
    prompt_tokens: int
    needles: list[PlacedNeedle]
    actual_depth: float
    prompt_sha256: str
    question: str
    haystack_tokens: int
    cache_cuts: tuple[tuple[int, int], ...] = ()
    """``(k, offset)``: the user message cut at character ``offset``, the last word start
    (" word") at or before context token ``k * CACHE_BLOCK_TOKENS``; only cuts inside
    the haystack text before the first needle, which every trial with a deeper first
    needle shares character for character."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Facts for the row's ``extra`` (a RAG twin's retrieved chunks and recall)."""
    error: ErrorInfo | None = None
    """Set when building failed in a way that is the trial's, not the run's (a RAG
    twin's embeddings endpoint failed after retries): the runner stores an error row
    without sending anything."""
    media: tuple[MediaPart, ...] = ()
    """A video or audio trial's files, sent at ``media_at`` (``context_span`` is empty)."""
    media_at: int | None = None
    """Character offset in the last message where ``media`` goes (the template's
    ``{context}``); None without media."""
    media_form: str | None = None
    """How the model takes the media (``Backend.media_form``): ``video``, ``frames``..."""
    length_unit: str = "tokens"
    """What ``trial.context_length`` counts: ``tokens``, or ``seconds`` for media."""

    @property
    def context(self) -> str:
        """The context (a copy: long prompts are best read from ``messages``)."""
        start, end = self.context_span
        return self.messages[-1]["content"][start:end]


class KeepsLast:
    """A builder that hands the last prompt it built out once more without building it
    again: ``run`` measures the longest trial first (preflight), then sends it first.
    Subclasses write ``_build``."""

    _last: BuiltPrompt | None = None

    def build(self, trial: Trial) -> BuiltPrompt:
        last, self._last = self._last, None
        if last is not None and last.trial == trial:
            return last
        del last  # a 10M-token prompt is not held while the next is built
        built = self._last = self._build(trial)
        return built

    def _build(self, trial: Trial) -> BuiltPrompt:
        raise NotImplementedError


class Builder(Protocol):
    """Anything that turns a trial into a ``BuiltPrompt`` in the model's tokenizer."""

    tokenizer: Tokenizer

    def build(self, trial: Trial) -> BuiltPrompt: ...
