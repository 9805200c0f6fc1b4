"""Grid -> trials: deterministic ids and seeds, and an order that reuses prompt caches."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from niah.config import Experiment


@dataclass(frozen=True)
class Trial:
    """One cell attempt: (length, depth, needle set, repeat). Model-independent."""

    trial_id: str
    context_length: int
    requested_depth: float
    repeat: int
    seed: int
    """Seeds the needle values of this trial."""
    needle_depths: tuple[float, ...]
    """Requested depth of each needle, in needle order."""


def _digest(obj: object, n: int = 16) -> str:
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:n]


def experiment_fingerprint(experiment: Experiment) -> str:
    """Hash of everything that shapes a prompt (not the models or run settings)."""
    data = experiment.model_dump(
        include={"tokenizer", "haystack", "needles", "prompt", "seed"}, mode="json"
    )
    data["length_includes_prompt"] = experiment.grid.length_includes_prompt
    for needle in data["needles"]:  # fields added later count only when set: old ids hold
        value = needle.get("value")
        if isinstance(value, dict) and value.get("values") is None:
            value.pop("values", None)
    if experiment.task.name != "needle" or experiment.task.options:
        data["task"] = experiment.task.model_dump(mode="json")  # the default keeps old ids
    return _digest(data)


def needle_depths(experiment: Experiment, depth: float) -> tuple[float, ...]:
    """Depth of each needle for a trial at ``depth``.

    Pinned needles keep their depth; the others spread evenly from ``depth`` towards
    the end (the gkamradt multi-needle convention: one needle stays at ``depth``).
    """
    free = sum(n.count for n in experiment.needles if n.depth_percent is None)
    step = (100.0 - depth) / free if free else 0.0
    out: list[float] = []
    i = 0
    for spec in experiment.needles:
        for _ in range(spec.count):
            if spec.depth_percent is not None:
                out.append(spec.depth_percent)
            else:
                out.append(round(depth + i * step, 6))
                i += 1
    return tuple(out)


def plan(experiment: Experiment) -> list[Trial]:
    """Every trial of the grid, in grid order (lengths, then depths, then repeats)."""
    fingerprint = experiment_fingerprint(experiment)
    trials: list[Trial] = []
    for length in experiment.grid.lengths():
        for depth in experiment.grid.depths():
            for repeat in range(experiment.grid.repeats):
                key = {"fp": fingerprint, "len": length, "depth": depth, "rep": repeat}
                trial_id = _digest(key, 16)
                seed = int(_digest({**key, "seed": experiment.seed}, 8), 16)
                trials.append(
                    Trial(
                        trial_id=trial_id,
                        context_length=length,
                        requested_depth=depth,
                        repeat=repeat,
                        seed=seed,
                        needle_depths=needle_depths(experiment, depth),
                    )
                )
    return trials


def prefix_order(trials: list[Trial]) -> list[Trial]:
    """Order trials so consecutive prompts share the longest prefix.

    Every context starts at the same point of one haystack stream, so a prompt's
    cacheable prefix runs up to its first needle. Sorting by that absolute offset,
    descending, lets a single-slot KV cache (llama.cpp) or a provider prompt cache
    keep each prefix for the next trial, which needs a shorter or equal one.
    """

    def first_offset(t: Trial) -> float:  # a task without configured needles: its depth
        return min(t.needle_depths, default=t.requested_depth) / 100.0 * t.context_length

    return sorted(trials, key=lambda t: (-first_offset(t), -t.context_length, t.repeat))
