"""Dense retrieval against a real ``python -m llama_cpp.server --embedding`` on
127.0.0.1 (SmolLM2's own embeddings): rows record retrieval, and a second run of the
sweep sends no embedding request (the on-disk cache)."""

from __future__ import annotations

from pathlib import Path

import pytest

from niah.config import load_experiment
from niah.results import read_rows
from niah.runner import run
from tests.fakes.llama_server import llama_server, server_available

pytestmark = pytest.mark.slow


def test_llama_server_embeddings_drive_dense_retrieval(smollm2_path: Path,
                                                       tmp_path: Path) -> None:
    reason = server_available()
    if reason:
        pytest.skip(reason)
    log = tmp_path / "server.log"
    with llama_server(smollm2_path, n_ctx=512, embedding=True, log_path=log) as base_url:
        exp = load_experiment({
            "name": "dense-llama",
            "model": [{"id": "rag/scripted/perfect",
                       "rag": {"retriever": "dense", "top_k": 2, "chunk_tokens": 64,
                               "embeddings": {"base_url": base_url, "model": "smollm2"}}}],
            "needles": [{"text": "The special magic number is {value}.",
                         "question": "What is the special magic number?"}],
            "grid": {"context_lengths": [400], "depth_percents": [0, 100]},
            "run": {"max_retries": 0, "cache": False},
        })
        rows = list(read_rows(run(exp, tmp_path / "a", cache_dir=tmp_path)))
        assert len(rows) == 2 and all(r.error is None for r in rows), [r.error for r in rows]
        for r in rows:
            rag = r.extra["rag"]
            assert len(rag["retrieved"]) == 2 and len(rag["scores"]) == 2
            assert rag["retrieval_recall"] in (0.0, 1.0)
            # the scripted reader answers from what it is given: its score is retrieval's
            assert r.score == rag["retrieval_recall"]
        served = log.read_text().count("POST /v1/embeddings")
        assert served > 0
        rerun = list(read_rows(run(exp, tmp_path / "b", cache_dir=tmp_path)))
        assert [r.extra["rag"]["retrieved"] for r in rerun] == \
            [r.extra["rag"]["retrieved"] for r in rows]
        assert log.read_text().count("POST /v1/embeddings") == served  # all from the cache
