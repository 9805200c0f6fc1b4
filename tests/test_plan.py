"""Plan: stable trial ids and seeds, needle depths, and the prefix-cache order."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from niah.config import load_experiment
from niah.plan import Trial, needle_depths, plan, prefix_order

NEEDLE = {"text": "The special magic number is {value}.", "question": "What is the number?"}
BASE: dict[str, Any] = {
    "name": "p",
    "model": "scripted/perfect",
    "needles": [NEEDLE],
    "grid": {"context_lengths": [1000, 2000], "depth_percents": [0, 50, 100], "repeats": 2},
}


def cfg(**top: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data.update(top)
    return data


def ids(data: dict[str, Any]) -> list[str]:
    return [t.trial_id for t in plan(load_experiment(data))]


def test_plan_covers_the_grid_in_order() -> None:
    trials = plan(load_experiment(cfg()))
    assert [(t.context_length, t.requested_depth, t.repeat) for t in trials] == [
        (n, d, r) for n in (1000, 2000) for d in (0, 50, 100) for r in (0, 1)
    ]
    assert len({t.trial_id for t in trials}) == len(trials)
    assert len({t.seed for t in trials}) == len(trials)
    assert all(len(t.trial_id) == 16 and int(t.trial_id, 16) >= 0 for t in trials)


def test_ids_are_deterministic_across_loads_and_processes() -> None:
    first, second = plan(load_experiment(cfg())), plan(load_experiment(cfg()))
    assert first == second
    # another interpreter with another hash seed computes the same ids and seeds
    code = (
        "import json, sys; from niah.config import load_experiment; from niah.plan import plan;"
        "print(json.dumps([[t.trial_id, t.seed] for t in plan(load_experiment("
        "json.loads(sys.argv[1])))]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(cfg())], capture_output=True, text=True,
        check=True, env=env, timeout=60,
    ).stdout
    assert json.loads(out) == [[t.trial_id, t.seed] for t in first]


@pytest.mark.parametrize("change", [
    {"seed": 1},
    {"needles": [{**NEEDLE, "text": "The secret number is {value}."}]},
    {"needles": [{**NEEDLE, "value": {"kind": "random_number", "digits": 8}}]},
    {"needles": [NEEDLE, NEEDLE]},
    {"haystack": {"kind": "generated", "seed": 1}},
    {"haystack": {"kind": "noise"}},
    {"tokenizer": "tiktoken:o200k_base"},
    {"prompt": {"template": "{context}\n\nQ: {question}"}},
    {"prompt": {"system": None}},
])
def test_what_shapes_a_prompt_changes_every_id(change: dict[str, Any]) -> None:
    before, after = ids(cfg()), ids(cfg(**change))
    assert not set(before) & set(after)


def test_length_includes_prompt_changes_every_id() -> None:
    changed = cfg()
    changed["grid"] = {**changed["grid"], "length_includes_prompt": True}
    assert not set(ids(cfg())) & set(ids(changed))


@pytest.mark.parametrize("change", [
    {"model": "openai/gpt-4o-mini"},
    {"model": ["scripted/a", "scripted/b"]},
    {"run": {"max_tokens": 10, "concurrency": 1, "temperature": 1.0, "cache": False}},
    {"scoring": {"kind": "exact"}},
    {"pricing": {"scripted/perfect": {"input": 1, "output": 1}}},
    {"description": "another description"},
])
def test_models_and_run_settings_keep_the_ids(change: dict[str, Any]) -> None:
    before = plan(load_experiment(cfg()))
    after = plan(load_experiment(cfg(**change)))
    assert before == after  # ids and seeds: the same cells compare across models


def test_growing_the_grid_keeps_existing_ids() -> None:
    bigger = cfg()
    bigger["grid"] = {"context_lengths": [500, 1000, 2000, 4000],
                      "depth_percents": [0, 25, 50, 100], "repeats": 3}
    old = {(t.context_length, t.requested_depth, t.repeat): t for t in plan(load_experiment(cfg()))}
    new = {(t.context_length, t.requested_depth, t.repeat): t
           for t in plan(load_experiment(bigger))}
    assert set(old) < set(new)
    for key, trial in old.items():
        assert new[key] == trial


def test_repeats_get_their_own_seeds() -> None:
    trials = [t for t in plan(load_experiment(cfg())) if t.context_length == 1000
              and t.requested_depth == 50]
    assert [t.repeat for t in trials] == [0, 1]
    assert trials[0].seed != trials[1].seed
    assert trials[0].trial_id != trials[1].trial_id


# -- needle depths -------------------------------------------------------------------------


def depths_of(needles: list[dict[str, Any]], depth: float) -> tuple[float, ...]:
    return needle_depths(load_experiment(cfg(needles=needles)), depth)


def test_one_needle_sits_at_the_trial_depth() -> None:
    assert depths_of([NEEDLE], 37.5) == (37.5,)
    assert depths_of([NEEDLE], 0) == (0,)
    assert depths_of([NEEDLE], 100) == (100,)


def test_several_needles_spread_from_the_depth_to_the_end() -> None:
    # gkamradt's multi-needle convention: the first at the depth, then evenly towards 100
    assert depths_of([{**NEEDLE, "count": 4}], 20) == (20, 40, 60, 80)
    assert depths_of([{**NEEDLE, "count": 4}], 0) == (0, 25, 50, 75)
    assert depths_of([NEEDLE, {**NEEDLE, "text": "B {value}."}], 50) == (50, 75)
    assert depths_of([{**NEEDLE, "count": 3}], 100) == (100, 100, 100)
    spread = depths_of([{**NEEDLE, "count": 3}], 10)
    assert spread == pytest.approx((10, 40, 70))
    assert all(0 <= d < 100 for d in spread)


def test_pinned_needles_keep_their_depth() -> None:
    pinned = {**NEEDLE, "text": "Pinned {value}.", "depth_percent": 90}
    # the pinned needle does not count among the spread ones
    assert depths_of([pinned, {**NEEDLE, "count": 2}], 40) == (90, 40, 70)
    assert depths_of([pinned], 10) == (90,)
    trials = plan(load_experiment(cfg(needles=[pinned, NEEDLE])))
    assert {t.needle_depths[0] for t in trials} == {90}
    assert [t.needle_depths[1] for t in trials] == [t.requested_depth for t in trials]


# -- prefix order ---------------------------------------------------------------------------


def first_offset(t: Trial) -> float:
    return min(t.needle_depths) / 100 * t.context_length


def test_prefix_order_sorts_by_first_needle_offset_descending() -> None:
    data = cfg()
    data["grid"] = {"context_lengths": [1000, 2000], "depth_percents": [0, 50, 100]}
    trials = plan(load_experiment(data))
    ordered = prefix_order(trials)
    assert sorted(ordered, key=lambda t: t.trial_id) == sorted(trials, key=lambda t: t.trial_id)
    assert [(t.context_length, t.requested_depth) for t in ordered] == [
        (2000, 100), (2000, 50), (1000, 100), (1000, 50), (2000, 0), (1000, 0)
    ]


def test_prefix_order_uses_the_earliest_needle() -> None:
    pinned = {**NEEDLE, "text": "Pinned {value}.", "depth_percent": 10}
    data = cfg(needles=[pinned, NEEDLE])
    data["grid"] = {"context_lengths": [1000, 4000], "depth_percents": [0, 20, 50, 100],
                    "repeats": 2}
    ordered = prefix_order(plan(load_experiment(data)))
    offsets = [first_offset(t) for t in ordered]
    assert offsets == sorted(offsets, reverse=True)
    assert ordered[0].context_length == 4000 and offsets[0] == 400  # capped by the pinned 10%
    assert ordered[-1].context_length == 1000 and ordered[-1].requested_depth == 0


def test_trials_of_a_task_without_configured_needles_are_ordered_by_depth() -> None:
    exp = load_experiment({"name": "vt", "model": "scripted/perfect", "task": "ruler/vt",
                           "grid": {"context_lengths": [1000, 2000], "depth_percents": [0, 50],
                                    "length_includes_prompt": True}})
    trials = plan(exp)
    assert all(t.needle_depths == () for t in trials)
    ordered = prefix_order(trials)
    assert [(t.context_length, t.requested_depth) for t in ordered] == \
        [(2000, 50.0), (1000, 50.0), (2000, 0.0), (1000, 0.0)]
