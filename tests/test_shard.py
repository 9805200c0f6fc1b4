"""Shards: every trial in exactly one shard, token-balanced, the same on every machine."""

from __future__ import annotations

import pytest

from niah.config import load_experiment
from niah.errors import ConfigError
from niah.plan import plan, prefix_order
from niah.shard import Shard, parse_shard, select, shard_from_env

NEEDLE = {"text": "The special magic number is {value}.", "question": "Which number?"}


def trials(lengths: list[int], depths: int = 10, repeats: int = 1) -> list:  # type: ignore[type-arg]
    exp = load_experiment({"name": "s", "model": "scripted/p", "needles": [NEEDLE],
                           "grid": {"context_lengths": lengths, "repeats": repeats,
                                    "depth_percents": {"min": 0, "max": 100, "num": depths}}})
    return prefix_order(plan(exp))


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7])
def test_every_trial_lands_in_exactly_one_shard_balanced_by_tokens(count: int) -> None:
    grid = trials([1000 * k for k in range(1, 11)])  # gkamradt's linear 10 x 10
    parts = [select(grid, Shard(i, count)) for i in range(1, count + 1)]
    ids = [t.trial_id for part in parts for t in part]
    assert sorted(ids) == sorted(t.trial_id for t in grid) and len(set(ids)) == len(ids)
    total = sum(t.context_length for t in grid)
    biggest = max(t.context_length for t in grid)
    for part in parts:  # at most one trial's tokens away from an equal share
        assert abs(sum(t.context_length for t in part) - total / count) <= biggest
        ranks = [grid.index(t) for t in part]
        assert ranks == list(range(ranks[0], ranks[0] + len(ranks)))  # a contiguous stretch


def test_the_split_is_deterministic() -> None:
    a = [t.trial_id for t in select(trials([500, 1000, 2000]), Shard(2, 3))]
    b = [t.trial_id for t in select(trials([500, 1000, 2000]), Shard(2, 3))]
    assert a == b and a


@pytest.mark.parametrize(("text", "message"), [
    ("5/4", "I must be between 1 and N"), ("0/4", "I must be between 1 and N"),
    ("1/0", "I must be between 1 and N"), ("a/b", "expected I/N"), ("3", "expected I/N"),
])
def test_bad_shards_are_one_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^--shard: .*{message}"):
        parse_shard(text)


def test_a_slurm_array_task_is_a_shard() -> None:
    assert shard_from_env({}) is None
    env = {"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "4",
           "SLURM_ARRAY_TASK_COUNT": "4"}
    assert shard_from_env(env) == Shard(2, 4)
    assert shard_from_env({"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "3"}) == \
        Shard(1, 3)
    with pytest.raises(ConfigError, match=r"^SLURM_ARRAY_TASK_ID: "):
        shard_from_env({"SLURM_ARRAY_TASK_ID": "9", "SLURM_ARRAY_TASK_COUNT": "3"})
