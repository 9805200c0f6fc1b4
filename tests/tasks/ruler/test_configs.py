"""The shipped ``configs/ruler/*.yaml``: one per RULER task, each loads, passes its task's
check, plans, and builds exact prompts; the slow test runs a few on the embedded model."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from niah import load_experiment
from niah.backends import create_backend
from niah.backends.base import Message, Request
from niah.plan import plan
from niah.tasks.registry import get_task
from tests.tasks.ruler.helpers import ALL_TASKS, OUTPUT

REPO = Path(__file__).parents[3]
CONFIGS = sorted((REPO / "configs" / "ruler").glob("*.yaml"))


def test_there_is_one_config_per_task() -> None:
    assert sorted(p.stem for p in CONFIGS) == sorted(ALL_TASKS)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_config_plans_and_builds(path: Path) -> None:
    exp = load_experiment(path, tokenizer="tiktoken:cl100k_base")  # no GGUF needed
    assert exp.task.name == f"ruler/{path.stem}"
    assert exp.grid.length_includes_prompt and exp.run.max_tokens == OUTPUT.get(path.stem, 128)
    assert exp.model[0].id == "llamacpp/smollm2-135m"
    task = get_task(exp.task.name)
    task.check(exp, exp.task.options)
    trials = plan(exp)
    assert 2 <= len(trials) <= 6  # minutes on the embedded model
    builder = task.builder(exp, exp.model[0], exp.task.options)
    for trial in trials:
        bp = builder.build(trial)
        assert builder.tokenizer.count(bp.context) == bp.context_tokens
        assert bp.prompt_tokens + exp.run.max_tokens <= trial.context_length


@pytest.mark.slow
@pytest.mark.parametrize("name", ["niah_single_1", "vt", "qa_1"])
def test_embedded_model_answers_a_shipped_config(name: str, smollm2_path: Path) -> None:
    """SmolLM2-135M on the config's shortest prompt, in its own tokenizer: a graded answer
    (right or wrong), never an error row."""
    exp = load_experiment(REPO / "configs" / "ruler" / f"{name}.yaml",
                          **{"grid.context_lengths": [1000], "grid.depth_percents": [50],
                             "model": {"id": "llamacpp/smollm2-135m",
                                       "options": {"n_threads": 1, "n_threads_batch": 1}}})
    task = get_task(exp.task.name)
    builder = task.builder(exp, exp.model[0], exp.task.options)
    bp = builder.build(plan(exp)[0])
    backend = create_backend(exp.model[0])

    async def answer() -> tuple[str, str | None]:
        await backend.prepare(bp.prompt_tokens, exp.run.max_tokens)
        done = await backend.generate(Request(
            messages=[Message(role="user", content=bp.messages[-1]["content"])],
            max_tokens=exp.run.max_tokens, temperature=0.0, prompt_tokens=bp.prompt_tokens))
        return done.text, done.finish_reason

    text, reason = asyncio.run(answer())
    grade = task.grade(bp, text, reason, exp.scoring, exp.task.options)
    assert grade.error is None or grade.error.kind == "truncated", grade.error
    assert grade.score is None or 0.0 <= grade.score <= 1.0
