"""A deterministic fake model for tests and demos: ``scripted/<any name>``.

It is not a language model. It finds needle sentences in the prompt with a regex and
quotes them as its answer, recalling each one with a probability decided by a hash
of (prompt, seed, needle), so the same request always gets the same answer. Options
script recall (optionally worse in the middle of the prompt), errors of each kind,
failures on the first calls (to test retries) and latency. Given ``media_forms`` it
takes media too, and "sees" a needle whose sentence is written in a media file's bytes
(the fake media of niah's tests write it there), counting media tokens as Gemini does.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from niah.backends.base import Backend, BackendOptions, Completion, Request, Usage, parse_options
from niah.config import ModelSpec
from niah.errors import ModelError, PermanentModelError, TransientModelError
from niah.media.base import HaystackMedia, MediaKind, MediaSummary
from niah.media.tokens import gemini_tokens

DEFAULT_PATTERN = r"The special magic number is (\S+?)\."
NOT_FOUND = "I could not find it."
MIDDLE = (0.3, 0.7)
"""Needles whose position in the prompt falls in this fraction are 'in the middle'."""


class ScriptedOptions(BackendOptions):
    """``model.options`` of the scripted backend."""

    recall: float = Field(default=1.0, ge=0, le=1)
    """Probability that a needle found in the prompt is answered."""
    lost_in_the_middle: bool = False
    """Use ``middle_recall`` for needles between 30% and 70% of the prompt."""
    middle_recall: float = Field(default=0.25, ge=0, le=1)
    """Recall in the middle of the prompt when ``lost_in_the_middle`` is on."""
    pattern: str = DEFAULT_PATTERN
    """Regex finding needles; group 1 (or the whole match) is the value answered."""
    error_rate: float = Field(default=0.0, ge=0, le=1)
    """Fraction of requests (chosen by hash) that raise ``error_kind``."""
    error_kind: Literal["transient", "permanent", "rate_limit", "context_length_exceeded"] = (
        "transient"
    )
    fail_first_n: int = Field(default=0, ge=0)
    """Raise a transient error on the first N calls (counts calls, not requests)."""
    latency_s: float = Field(default=0.0, ge=0, le=3600)
    """Seconds to sleep per call."""
    seed: int = 0
    """Changes which requests and needles the hash picks."""
    reply: str | None = None
    """Fixed answer text replacing the needle lookup (errors still apply)."""
    context_window: int | None = Field(default=None, gt=0)
    """Reject prompts whose ``prompt_tokens`` exceed this (context_length_exceeded)."""
    media_forms: dict[Literal["video", "audio"], Literal["video", "frames", "wav", "mp3"]] = (
        Field(default_factory=dict))
    """How it takes each medium (``{video: frames, audio: wav}``); empty: text only."""

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"invalid regex: {exc}") from None
        return v


def _unit(*parts: object) -> float:
    """A uniform number in [0, 1) determined by ``parts``."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class ScriptedBackend(Backend):
    """Answers from the prompt itself; see the module docstring."""

    max_concurrency = None
    options_model: ClassVar[type[ScriptedOptions]] = ScriptedOptions
    accepts: ClassVar[frozenset[MediaKind]] = frozenset({"image", "video", "audio"})

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        self.options = parse_options(ScriptedOptions, spec)
        self._pattern = re.compile(self.options.pattern)
        self.calls = 0
        """Calls so far (``fail_first_n`` counts these)."""

    @classmethod
    def known_window(cls, spec: ModelSpec) -> int | None:
        return parse_options(ScriptedOptions, spec).context_window

    @classmethod
    def media_form(cls, spec: ModelSpec, haystack: HaystackMedia) -> str | None:
        return parse_options(ScriptedOptions, spec).media_forms.get(haystack)

    @classmethod
    def media_tokens(cls, spec: ModelSpec, summary: MediaSummary) -> int | None:
        return gemini_tokens(summary)

    def context_window(self) -> int | None:
        return self.spec.context_window or self.options.context_window

    async def generate(self, request: Request) -> Completion:
        self.calls += 1
        opts = self.options
        if opts.latency_s:
            await asyncio.sleep(opts.latency_s)
        if self.calls <= opts.fail_first_n:
            raise TransientModelError(f"scripted: failing call {self.calls} of {opts.fail_first_n}")
        prompt = "\n".join(m.content for m in request.messages)
        if request.media:  # what a file "shows": its bytes as text, where the media goes
            seen = "\n".join(Path(p.path).read_bytes().decode("latin-1") for p in request.media)
            at = request.media_at or 0
            before = "\n".join(m.content for m in request.messages[:-1])
            last = request.messages[-1].content
            prompt = "\n".join(x for x in (before, last[:at] + seen + last[at:]) if x)
        digest = hashlib.sha256(prompt.encode("utf-8")).hexdigest()
        window, size = self.context_window(), request.prompt_tokens
        if window is not None and size is not None and size > window:
            raise PermanentModelError(
                f"scripted: prompt of {size} tokens exceeds the context window of {window}",
                kind="context_length_exceeded", status=400,
            )
        if opts.error_rate and _unit(digest, opts.seed, "error") < opts.error_rate:
            raise self._error()
        if opts.reply is not None:
            text, found, recalled = opts.reply, 0, 0
        else:
            sentences, found = self._recalled(prompt, digest)
            recalled = len(sentences)
            text = " ".join(sentences) or NOT_FOUND
        return Completion(
            text=text,
            usage=Usage(prompt_tokens=request.prompt_tokens, completion_tokens=len(text.split())),
            finish_reason="stop",
            provider_id=f"scripted-{digest[:12]}",
            raw={"needles_found": found, "needles_recalled": recalled},
        )

    def _recalled(self, prompt: str, digest: str) -> tuple[list[str], int]:
        """Needle sentences the hash lets through (quoted as the answer), and how many
        needles were found."""
        opts = self.options
        matches = list(self._pattern.finditer(prompt))
        values: list[str] = []
        sentences: list[str] = []
        for i, match in enumerate(matches):
            value = match.group(1) if match.groups() else match.group(0)
            position = match.start() / max(len(prompt), 1)
            recall = opts.recall
            if opts.lost_in_the_middle and MIDDLE[0] <= position <= MIDDLE[1]:
                recall = min(recall, opts.middle_recall)
            if _unit(digest, opts.seed, "needle", i) < recall and value not in values:
                values.append(value)
                sentences.append(match.group(0).strip())
        return sentences, len(matches)

    def _error(self) -> ModelError:
        kind = self.options.error_kind
        if kind == "transient":
            return TransientModelError("scripted: transient error", status=503)
        if kind == "rate_limit":
            return TransientModelError(
                "scripted: rate limited", kind="rate_limit", status=429, retry_after=0.0
            )
        if kind == "context_length_exceeded":
            return PermanentModelError(
                "scripted: context length exceeded", kind="context_length_exceeded", status=400
            )
        return PermanentModelError("scripted: permanent error", status=400)

    def describe(self) -> dict[str, Any]:
        return {"id": self.spec.id, "scripted": True, "options": self.options.model_dump()}
