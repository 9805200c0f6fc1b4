"""What a media sweep will send, per model, without building a single file: frames or
seconds per trial, input tokens by the provider's documented counts, and cost."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from niah.backends.registry import context_window
from niah.config import Experiment
from niah.exchange import check_window
from niah.media.builder import MediaBuilder
from niah.plan import Trial
from niah.pricing import estimated_cost


@dataclass(frozen=True)
class MediaEstimate:
    model: str
    form: str
    trials: int
    longest_s: int
    longest_frames: int
    """Frames of the longest trial (0 for audio)."""
    prompt_tokens: int | None
    """Input tokens of the whole sweep; None when the provider documents no media count."""
    largest_prompt: int | None
    cost_usd: float | None
    """At most: every answer uses ``run.max_tokens``; None when a price or a count is unknown."""


def estimate_media(experiment: Experiment, builder: MediaBuilder,
                   trials: Sequence[Trial]) -> MediaEstimate:
    """The sweep's estimate for ``builder.model``; a longest prompt that cannot fit the
    model's window is refused here (``grid.durations: ...``), as for text."""
    spec = builder.model
    total: int | None = 0
    largest: int | None = 0
    spend: float | None = 0.0
    for trial in trials:
        text, media = builder.estimate_tokens(trial)
        if media is None:
            total = largest = spend = None
            continue
        prompt = text + media
        one = estimated_cost(experiment, spec, prompt)
        total = None if total is None else total + prompt
        largest = None if largest is None else max(largest, prompt)
        spend = None if spend is None or one is None else spend + one
    longest = max(trials, key=lambda t: t.context_length)
    if largest is not None:
        check_window(spec, context_window(spec), longest.context_length, largest,
                     experiment.run.max_tokens, "seconds")
    summary = builder.summary(longest)
    return MediaEstimate(spec.id, builder.form, len(trials), longest.context_length,
                         summary.frames, total, largest, spend)
