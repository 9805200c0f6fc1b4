"""Sharded runs: a deterministic, token-balanced 1/N of a grid's trials per process.

A sweep split over machines (a Slurm array, any batch scheduler) runs ``niah run
CONFIG --shard I/N`` once per shard; ``niah merge`` joins the shard directories into
one run. Each shard takes a contiguous stretch of the prefix-cache order, so the trials
that share a prefix stay together (a shard's server reuses its KV cache as an unsharded
run would), cut where the cumulative prompt tokens cross ``k/N`` of the total.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from niah.errors import ConfigError
from niah.plan import Trial


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def as_dict(self) -> dict[str, int]:
        return {"index": self.index, "count": self.count}


def parse_shard(text: str, option: str = "--shard") -> Shard:
    """``"2/4"`` -> Shard(2, 4); anything else is one line naming the option."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match:
        raise ConfigError(option, f"expected I/N (e.g. 2/4), got {text!r}")
    index, count = int(match[1]), int(match[2])
    if count < 1 or not 1 <= index <= count:
        raise ConfigError(option, f"{text!r}: I must be between 1 and N (N >= 1)")
    return Shard(index, count)


def shard_from_env(env: Mapping[str, str] | None = None) -> Shard | None:
    """The shard of a Slurm array task (``SLURM_ARRAY_TASK_ID`` counted from
    ``SLURM_ARRAY_TASK_MIN``, out of ``SLURM_ARRAY_TASK_COUNT``), or None outside one."""
    env = os.environ if env is None else env
    count, task = env.get("SLURM_ARRAY_TASK_COUNT"), env.get("SLURM_ARRAY_TASK_ID")
    if not count or task is None:
        return None
    try:
        index = int(task) - int(env.get("SLURM_ARRAY_TASK_MIN", "0")) + 1
        return parse_shard(f"{index}/{int(count)}", "SLURM_ARRAY_TASK_ID")
    except ValueError:
        raise ConfigError("SLURM_ARRAY_TASK_ID", f"{task!r} of {count!r} is not a task of "
                          "the array") from None


def select(trials: Sequence[Trial], shard: Shard | None) -> list[Trial]:
    """The trials of ``shard``, in the given (prefix-cache) order; all when None.

    A trial belongs to shard k when the middle of its token span falls in the k-th of N
    equal parts of the total: every trial lands in exactly one shard, shards differ by
    at most one trial's tokens from an equal share, and the split depends only on the
    trials (the same on every machine).
    """
    if shard is None or shard.count == 1:
        return list(trials)
    total = sum(t.context_length for t in trials)
    out: list[Trial] = []
    before = 0
    for trial in trials:
        middle = before + trial.context_length / 2
        if min(int(middle * shard.count / total), shard.count - 1) == shard.index - 1:
            out.append(trial)
        before += trial.context_length
    return out
