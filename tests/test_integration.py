"""End to end on the real SmolLM2-135M: through llama.cpp's server and embedded.

The same tiny grid runs twice through ``niah.runner.run``: once over a real socket
to ``python -m llama_cpp.server`` (``openai-compatible/...``), once in-process
(``llamacpp/...``). Both must store scored rows written by the real model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from niah.config import Experiment, load_experiment
from niah.results import ResultRow, read_rows
from niah.runner import run
from tests.fakes.llama_server import llama_server, server_available

pytestmark = pytest.mark.slow

ONE_THREAD = {"n_threads": 1, "n_threads_batch": 1}


def tiny_grid(model: dict[str, Any], gguf: Path) -> Experiment:
    """600 tokens, needle first and last: the model finds it there reliably."""
    return load_experiment({
        "name": "integration",
        "model": model,
        "tokenizer": f"llamacpp:{gguf}",  # the server's own tokenizer: exact lengths
        "haystack": {"kind": "generated", "seed": 0},
        "needles": [{"text": "The special magic number is {value}.",
                     "question": "What is the special magic number?",
                     "value": {"kind": "random_number", "digits": 7}}],
        "grid": {"context_lengths": [600], "depth_percents": [0, 100]},
        "run": {"max_tokens": 48, "concurrency": 1, "cache": False, "max_retries": 0},
    })


def check_scored(rows: list[ResultRow], model: str) -> None:
    assert len(rows) == 2
    for row in rows:
        assert row.model == model
        assert row.error is None, row.error
        assert row.response and row.response.strip()
        assert row.score is not None
        assert row.needles[0].found is not None
        assert row.context_tokens == 600
        assert row.usage.prompt_tokens is not None and row.usage.completion_tokens
    found = [row for row in rows if row.score == 1.0]
    assert found, [row.response for row in rows]
    assert any(row.needles[0].answer in (row.response or "") for row in found)


def test_llama_server_and_embedded_score_the_same_grid(
    smollm2_path: Path, tmp_path: Path
) -> None:
    reason = server_available()
    if reason:
        pytest.skip(reason)
    with llama_server(smollm2_path, n_ctx=1024) as base_url:
        server = tiny_grid({"id": "openai-compatible/smollm2", "base_url": base_url},
                           smollm2_path)
        served = read_rows(run(server, tmp_path / "server", fresh=True))
    check_scored(served, "openai-compatible/smollm2")

    embedded = tiny_grid({"id": "llamacpp/smollm2-135m", "options": ONE_THREAD}, smollm2_path)
    local = read_rows(run(embedded, tmp_path / "embedded", fresh=True))
    check_scored(local, "llamacpp/smollm2-135m")
    for row in local:
        raw = row.extra["raw"]
        assert 0 < raw["prompt_eval_tokens"] <= row.usage.prompt_tokens
        assert raw["eval_s"] > 0

    # Same trials, same prompts, same tokenizer: the two model servings agree on sizes.
    by_trial = {row.trial_id: row for row in served}
    assert set(by_trial) == {row.trial_id for row in local}
    for row in local:
        twin = by_trial[row.trial_id]
        assert twin.prompt_sha256 == row.prompt_sha256
        assert twin.usage.prompt_tokens == row.usage.prompt_tokens
