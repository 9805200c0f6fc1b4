from __future__ import annotations

from collections import Counter

from niah.affinity import AFFINITY_BUCKETS, affinity_key, plan_homes
from niah.config import load_experiment
from niah.plan import plan, prefix_order

NEEDLE = {"text": "The special magic number is {value}.", "question": "What is it?"}


def grid(lengths: list[int], depths: list[float], repeats: int = 1, needles: int = 1) -> list:
    exp = load_experiment({
        "name": "affinity", "model": "scripted/perfect", "needles": [{**NEEDLE,
                                                                       "count": needles}],
        "grid": {"context_lengths": lengths, "depth_percents": depths, "repeats": repeats},
    })
    return prefix_order(plan(exp))


def test_the_key_is_the_length_and_the_band_of_the_first_needle() -> None:
    trials = grid([1000, 2000], [0, 10, 12.5, 60, 100], needles=3)
    keys = {(t.context_length, t.requested_depth): affinity_key(t) for t in trials}
    assert keys[(1000, 0)] == keys[(1000, 10)] == (1000, 0)
    assert keys[(1000, 12.5)] == (1000, 1)
    assert keys[(2000, 60)] == (2000, 4)
    assert keys[(2000, 100)] == (2000, AFFINITY_BUCKETS - 1)


def test_groups_are_balanced_by_tokens_per_slot_and_each_server_keeps_the_prefix_order() -> None:
    trials = grid([1000, 2000, 4000, 8000], [0, 25, 50, 75, 100], repeats=3)
    homes, order = plan_homes(trials, [2, 1, 1])
    assert sorted(t.trial_id for t in order) == sorted(t.trial_id for t in trials)
    work = Counter[int]()
    for t in trials:
        work[homes[affinity_key(t)]] += t.context_length
    total = sum(work.values())
    shares = [work[0] / total / 0.5, work[1] / total / 0.25, work[2] / total / 0.25]
    assert all(0.8 <= s <= 1.2 for s in shares), shares
    position = {t.trial_id: i for i, t in enumerate(trials)}
    for server in range(3):
        mine = [t for t in order if homes[affinity_key(t)] == server]
        assert [position[t.trial_id] for t in mine] == sorted(position[t.trial_id] for t in mine)


def test_servers_take_turns_in_the_order_in_proportion_to_their_slots() -> None:
    trials = grid([1000], [float(d) for d in range(0, 100, 3)], repeats=2)
    homes, order = plan_homes(trials, [1, 1])
    first = [homes[affinity_key(t)] for t in order[:12]]
    assert 4 <= first.count(0) <= 8  # no server's trials all come first


def test_one_server_keeps_the_prefix_order() -> None:
    trials = grid([1000, 2000], [0, 50, 100])
    homes, order = plan_homes(trials, [4])
    assert order == trials and set(homes.values()) == {0}
