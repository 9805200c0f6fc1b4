"""Dense retrieval against a fake OpenAI-compatible embeddings server over a real
socket: answers, the on-disk cache (a second run sends nothing), and failures that
become error rows (retried when transient) instead of stopping the grid."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from niah.config import load_experiment
from niah.rag.config import EmbeddingsSpec
from niah.rag.embeddings import EmbeddingCache, EmbeddingsClient
from niah.results import read_rows
from niah.runner import RunFailed, run
from tests.fakes.embeddings_server import FakeEmbeddingsServer


def _config(base_url: str, retriever: str = "dense", **embeddings: Any) -> dict[str, Any]:
    # a fresh embedding model name per config: the session's tests share one cache
    embeddings.setdefault("model", f"fake-{retriever}-{uuid.uuid4().hex[:8]}")
    return {
        "name": "dense", "model": [
            {"id": "rag/scripted/perfect",
             "rag": {"retriever": retriever, "top_k": 2, "chunk_tokens": 64,
                     "embeddings": {"base_url": base_url, **embeddings}}}],
        "needles": [{"text": "The special magic number is {value}.",
                     "question": "What is the special magic number?"}],
        "grid": {"context_lengths": [800, 1600], "depth_percents": [0, 50, 100]},
        "run": {"max_retries": 2, "cache": False},
    }


@pytest.mark.parametrize("retriever", ["dense", "hybrid"])
def test_dense_runs_and_a_second_run_sends_no_embedding_request(
        tmp_path: Path, retriever: str) -> None:
    with FakeEmbeddingsServer() as srv:
        exp = load_experiment(_config(srv.base_url, retriever))
        out = run(exp, tmp_path / "a", cache_dir=tmp_path)
        rows = list(read_rows(out))
        assert len(rows) == 6 and all(r.error is None for r in rows)
        # the scripted reader answers what it is given: its score is the retrieval's
        assert all(r.score == r.extra["rag"]["retrieval_recall"] for r in rows)
        assert all(len(r.extra["rag"]["retrieved"]) == 2 for r in rows)
        chunks = sum(r.extra["rag"]["chunks"] for r in rows)
        sent, embedded = srv.requests, srv.texts
        assert 0 < embedded < chunks  # chunks shared by trials were embedded once
        run(exp, tmp_path / "b", cache_dir=tmp_path)  # the same sweep again
        assert (srv.requests, srv.texts) == (sent, embedded)  # nothing sent


def test_the_cache_serves_known_texts_without_a_request(tmp_path: Path) -> None:
    with FakeEmbeddingsServer() as srv:
        spec = EmbeddingsSpec(base_url=srv.base_url)
        first = EmbeddingsClient(spec, EmbeddingCache(tmp_path))
        a = first.embed(["alpha beta", "gamma", "alpha beta"])
        assert srv.requests == 1 and srv.texts == 2  # a repeated text is embedded once
        second = EmbeddingsClient(spec, EmbeddingCache(tmp_path))
        b = second.embed(["gamma", "alpha beta"])
        assert srv.requests == 1 and second.requests == 0
        assert (b[0] == a[1]).all() and (b[1] == a[0]).all()


def test_server_errors_are_retried_then_stored_as_error_rows(
        tmp_path: Path, retry_waits: list[float]) -> None:
    with FakeEmbeddingsServer(script=[500] * 100) as srv:
        exp = load_experiment(_config(srv.base_url))
        with pytest.raises(RunFailed, match="every trial failed"):
            run(exp, tmp_path / "r", cache_dir=tmp_path)
        rows = list(read_rows(tmp_path / "r"))
    assert len(rows) == 6
    assert {r.error.kind for r in rows if r.error} == {"embeddings"}
    assert all(r.attempts == 3 and r.response is None for r in rows)  # 1 + max_retries 2
    assert len(retry_waits) == 6 * 2


def test_a_transient_error_that_clears_costs_one_retry(
        tmp_path: Path, retry_waits: list[float]) -> None:
    with FakeEmbeddingsServer(script=[503]) as srv:
        rows = list(read_rows(run(load_experiment(_config(srv.base_url)), tmp_path / "r",
                                  cache_dir=tmp_path)))
    assert all(r.error is None for r in rows) and len(retry_waits) == 1


@pytest.mark.parametrize("server,message", [
    ({"wrong_dimensions": True}, "63 dimensions, expected 64"),
    ({"script": [400] * 100}, "HTTP 400"),
])
def test_wrong_dimensions_and_client_errors_fail_at_once(
        tmp_path: Path, retry_waits: list[float], server: dict[str, Any], message: str) -> None:
    with FakeEmbeddingsServer(**server) as srv:
        exp = load_experiment(_config(srv.base_url, dimensions=64))
        with pytest.raises(RunFailed):
            run(exp, tmp_path / "r", cache_dir=tmp_path)
    rows = list(read_rows(tmp_path / "r"))
    assert rows and all(r.error is not None and message in r.error.message for r in rows)
    assert retry_waits == []
