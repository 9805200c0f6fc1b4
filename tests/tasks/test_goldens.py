"""The default task builds byte-identical prompts: every shipped needle config's first
trials (and its longest) hash to the digests recorded from the builder before tasks
existed (``tests/data/tasks/goldens.json``).

What a fresh machine cannot have offline is swapped for a stand-in, the same way when
the goldens were recorded and now: a tiktoken encoding that needs a download is
counted in cl100k_base (packaged), a ``tokenizer.json`` to fetch likewise, a haystack
folder to fetch becomes the shipped Alice text. Regenerate (only when a change of
prompts is meant): ``python -m tests.tasks.test_goldens``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from niah.config import Experiment, load_experiment
from niah.plan import plan

REPO = Path(__file__).resolve().parents[2]
GOLDENS = REPO / "tests" / "data" / "tasks" / "goldens.json"
FIRST = 3
LONGEST = 200_000
"""The longest trial up to this length is checked too (1M-token builds belong to the
slow exactness tests)."""


def needle_configs() -> list[Path]:
    """Shipped experiment configs of the default task (not NLL, not other tasks)."""
    out = []
    for path in sorted((REPO / "configs").rglob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        if "corpora" in data:  # an NLL config
            continue
        if (data.get("haystack") or {}).get("kind") in ("video", "audio"):  # media: seconds
            continue
        task = data.get("task", "needle")
        if (task if isinstance(task, str) else task.get("name", "needle")) == "needle":
            out.append(path)
    return out


SYNTHETIC: dict[str, dict[str, Any]] = {
    "synthetic:many-needles": {
        "name": "many", "model": "openai/gpt-4o-mini", "tokenizer": "tiktoken:cl100k_base",
        "needles": [
            {"text": "The pass code of {key} is {value}.", "key": "the vault",
             "question": "What is the pass code of {key}?", "count": 4,
             "value": {"kind": "random_word"}},
            {"text": "A decoy number is {value}.", "distractor": True},
            {"text": "The pin is {value}.", "question": "What is the pin?",
             "depth_percent": 10, "value": {"kind": "uuid"}},
        ],
        "prompt": {"question": "List every pass code and the pin."},
        "grid": {"context_lengths": [500, 3000], "depth_percents": [0, 40, 100], "repeats": 2},
    },
}
"""Configs of many needles, keys, distractors and pinned depths (what ``needles`` draws)."""


def offline_experiment(path: Path) -> Experiment:
    """The config with stand-ins for what needs a download."""
    overrides: dict[str, Any] = {}
    data = yaml.safe_load(path.read_text())
    tok = str(data.get("tokenizer", "auto"))
    models = data["model"] if isinstance(data["model"], list) else [data["model"]]
    ids = [(m if isinstance(m, str) else m["id"]).removeprefix("rag/") for m in models]
    if tok.startswith("hf:") or (tok == "auto" and not all(i.startswith("llamacpp/") for i in ids)):
        overrides["tokenizer"] = "tiktoken:cl100k_base"
    hay = data.get("haystack") or {}
    if hay.get("kind") == "files" and not (path.parent / hay["path"]).is_dir():
        overrides["haystack"] = {"kind": "files", "path": str(REPO / "haystacks" / "alice")}
    return load_experiment(path, **overrides)


def digests(path: Path | str) -> list[str]:
    """prompt_sha256 of the first trials and the longest, for each model of the config."""
    from niah.tasks.registry import get_task

    experiment = load_experiment(SYNTHETIC[path]) if isinstance(path, str) \
        else offline_experiment(path)
    trials = plan(experiment)
    longest = max((t for t in trials if t.context_length <= LONGEST),
                  key=lambda t: t.context_length)
    picked = [*trials[:FIRST], longest]
    task = get_task(experiment.task.name)
    options = task.options_model.model_validate(experiment.task.options) \
        if task.options_model else None
    out = []
    for model in experiment.model:
        builder = task.builder(experiment, model, options)
        out += [builder.build(t).prompt_sha256 for t in picked]
    return out


def _rel(path: Path | str) -> str:
    return path if isinstance(path, str) else path.relative_to(REPO).as_posix()


def test_every_shipped_needle_config_has_goldens() -> None:
    recorded = json.loads(GOLDENS.read_text())
    assert {_rel(p) for p in needle_configs()} <= set(recorded)
    assert "configs/quickstart.yaml" in recorded


@pytest.mark.parametrize("config", [*needle_configs(), *SYNTHETIC], ids=_rel)
def test_prompts_are_byte_identical(config: Path | str) -> None:
    expected = json.loads(GOLDENS.read_text())[_rel(config)]
    assert digests(config) == expected


if __name__ == "__main__":  # record (before a change that must not move prompts)
    GOLDENS.parent.mkdir(parents=True, exist_ok=True)
    recorded = {_rel(p): digests(p) for p in [*needle_configs(), *SYNTHETIC]}
    GOLDENS.write_text(json.dumps(recorded, indent=1) + "\n")
    print(f"recorded {len(recorded)} configs", file=sys.stderr)
