"""Prefix affinity: which trials share a prompt prefix, and which server each group gets.

Every context starts at the same point of one haystack (see ``niah.haystack.builder``),
so a prompt is shared with another up to the first needle of either. A server keeps
what it computed for a prompt (llama.cpp's slot, vLLM's and SGLang's prefix caches), so
trials sharing a long prefix are cheapest on one server. ``affinity_key`` groups the
trials of one length whose first needle lies in the same eighth of the context: the
nearby offsets that ``niah.plan.prefix_order`` already puts next to each other. The
haystack is one per experiment and a pool serves one model, so it needs no place in
the key.

``plan_homes`` gives each group a home server before the run (greedily, to the server
with the fewest tokens per slot so far) and returns the order the runner hands trials
out in: each server's own trials keep the prefix order, and the servers take turns in
proportion to their slots, so the trial a server needs next is near the head of the
queue whenever it frees a slot.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from niah.plan import Trial

AFFINITY_BUCKETS = 8
"""Bands of the first needle's depth: trials of one length in one band share at least
seven eighths of the shorter one's prefix, once past the first band."""

AffinityKey = tuple[int, int]


def affinity_key(trial: Trial) -> AffinityKey:
    """(context length, band of the first needle's depth)."""
    first = min(trial.needle_depths, default=trial.requested_depth) / 100.0
    return trial.context_length, min(int(first * AFFINITY_BUCKETS), AFFINITY_BUCKETS - 1)


def plan_homes(
    trials: Sequence[Trial], slots: Sequence[int]
) -> tuple[dict[AffinityKey, int], list[Trial]]:
    """Each group's home (an index into ``slots``) and the order to hand trials out in.

    Work is counted in context tokens, the part of a request that costs the time.
    """
    groups: dict[AffinityKey, int] = {}
    for t in trials:
        key = affinity_key(t)
        groups[key] = groups.get(key, 0) + t.context_length
    load = [0] * len(slots)
    homes: dict[AffinityKey, int] = {}
    for key, work in groups.items():  # in the prefix order of each group's first trial
        home = min(range(len(slots)), key=lambda i: ((load[i] + work) / slots[i], i))
        homes[key] = home
        load[home] += work
    queues: list[list[Trial]] = [[] for _ in slots]
    for t in trials:
        queues[homes[affinity_key(t)]].append(t)
    heads = [0] * len(slots)
    turns = [(0.0, i) for i, q in enumerate(queues) if q]
    heapq.heapify(turns)
    order: list[Trial] = []
    while turns:  # the server with the fewest tokens handed out per slot goes next
        handed, i = heapq.heappop(turns)
        trial = queues[i][heads[i]]
        heads[i] += 1
        order.append(trial)
        if heads[i] < len(queues[i]):
            heapq.heappush(turns, (handed + trial.context_length / slots[i], i))
    return homes, order
