"""Experiments and built prompts of RULER's tasks for the tests (cl100k, offline)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from niah import load_experiment
from niah.config import Experiment
from niah.plan import plan
from niah.prompt import Builder, BuiltPrompt
from niah.tasks.registry import get_task

DATA = Path(__file__).parents[2] / "data" / "ruler"
OUTPUT = {"vt": 30, "cwe": 120, "fwe": 50, "qa_1": 32, "qa_2": 32}
"""RULER's tokens_to_generate per task (128 for the needle tasks)."""
NEEDLE_TASKS = ["niah_single_1", "niah_single_2", "niah_single_3", "niah_multikey_1",
                "niah_multikey_2", "niah_multikey_3", "niah_multivalue", "niah_multiquery"]
TEXT_TASKS = [*NEEDLE_TASKS, "vt"]
"""Built by niah's exact builder: the context has exactly the tokens asked for."""
ITEM_TASKS = ["cwe", "fwe", "qa_1", "qa_2"]
"""Built from whole items: within one item of the length."""
ALL_TASKS = TEXT_TASKS + ITEM_TASKS
QA_FILES = {"qa_1": "squad_tiny.json", "qa_2": "hotpotqa_tiny.json"}


def options_for(task: str, **extra: Any) -> dict[str, Any]:
    # relative to the experiment's base_dir (DATA): an absolute path would make trial
    # seeds depend on where the checkout lives
    opts: dict[str, Any] = {"path": QA_FILES[task]} if task in QA_FILES else {}
    return {**opts, **extra}


def experiment(task: str, lengths: list[int] | None = None, depths: list[float] | None = None,
               repeats: int = 1, options: dict[str, Any] | None = None,
               **extra: Any) -> Experiment:
    cfg: dict[str, Any] = {
        "name": "t",
        "model": "scripted/perfect",
        "task": {"name": f"ruler/{task}", "options": options_for(task, **(options or {}))},
        "grid": {"context_lengths": lengths or [1200], "depth_percents": depths or [40],
                 "repeats": repeats, "length_includes_prompt": True},
        "run": {"max_tokens": OUTPUT.get(task, 128)},
        "base_dir": str(DATA),
    }
    cfg.update(extra)
    return load_experiment(cfg)


def builder(exp: Experiment) -> Builder:
    return get_task(exp.task.name).builder(exp, exp.model[0], exp.task.options)


def built(exp: Experiment) -> list[BuiltPrompt]:
    b = builder(exp)
    return [b.build(t) for t in plan(exp)]


def answers(bp: BuiltPrompt) -> list[str]:
    return [n.answer for n in bp.needles if not n.distractor]


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def skeleton(bp: BuiltPrompt) -> str:
    """The user message with the context cut out and every random draw masked: the
    structure a golden test fixes."""
    start, end = bp.context_span
    text = bp.messages[-1]["content"]
    out = text[:start] + "<CONTEXT>" + text[end:]
    for n in bp.needles:
        if n.key and not n.distractor:
            out = out.replace(n.key, "<KEY>")
    out = _UUID.sub("<UUID>", out)
    out = re.sub(r"\b[A-Z]{3}\b(?= |\n|$)", "<V3>", out)
    out = re.sub(r"\b\d{5,7}\b", "<NUM>", out)
    return out
