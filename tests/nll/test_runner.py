"""Runs with the scripted source: windows, resume, cache, failures, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from niah.errors import ConfigError, HaystackError, TransientModelError, UserError
from niah.nll.cache import NllCache
from niah.nll.config import load_nll_config
from niah.nll.results import DOCUMENTS_FILE, load_nll, read_nll_manifest, read_rows
from niah.nll.runner import plan_nll, run_nll, windows, with_retries
from niah.nll.scripted import ScriptedSource
from tests.nll.conftest import nll_config, text_of


def test_windows_split_a_document_without_overlap() -> None:
    assert windows(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert windows(8, 4) == [(0, 4), (4, 8)]
    assert windows(3, 8) == [(0, 3)]


def test_a_run_scores_every_token_once_in_its_window(corpus: Path, tmp_path: Path) -> None:
    config = load_nll_config(nll_config(corpus))
    run = run_nll(config, tmp_path / "run", cache=False)
    rows = read_rows(run.run_dir)
    short = len(plan_nll(config).models[0].tokenizer.encode((corpus / "c.md").read_text()))
    assert 64 < short < 128
    assert [(r.document, r.tokens, r.windows) for r in rows] == [
        ("a.txt", 200, 4), ("b.txt", 200, 4), ("c.md", short, 2)
    ]
    assert rows[0].document_tokens is not None and rows[0].document_tokens > 200
    assert rows[2].document_tokens == short
    a = load_nll(run.run_dir, rows[0])
    # positions 1 of each window are unscored; the rest follow the scripted law exactly:
    # in each window, the cumulative average NLL up to position x is 6 x^-0.5 + 1.5
    assert np.isnan(a[[0, 64, 128, 192]]).all()
    assert rows[0].scored == 200 - 4
    for start in (0, 64, 128):
        window = a[start + 1:start + 64].astype(np.float64)
        x = np.arange(2, 65)
        np.testing.assert_allclose(np.cumsum(window) / (x - 1), 6.0 * x ** -0.5 + 1.5,
                                   rtol=1e-5)
    manifest = read_nll_manifest(run.run_dir)
    assert manifest is not None and manifest.kind == "nll"
    assert manifest.models[0]["window"] == 64
    assert manifest.models[0]["tokenizer"] == "tiktoken:cl100k_base"


def test_a_long_text_is_tokenized_only_as_far_as_needed(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    text = text_of(5000, 4)
    (folder / "long.txt").write_text(text)
    model = plan_nll(load_nll_config(nll_config(folder))).models[0]
    doc = model.documents[0]
    assert doc.document_tokens is None  # not tokenized whole
    whole = model.tokenizer.encode(text)
    np.testing.assert_array_equal(doc.ids, whole[:200])


def test_a_last_window_of_one_token_scores_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text(text_of(129))
    config = load_nll_config(nll_config(folder, max_document_tokens=129))
    run = run_nll(config, tmp_path / "run", cache=False)
    row = read_rows(run.run_dir)[0]
    assert (row.tokens, row.windows, row.scored) == (129, 3, 128 - 2)


def test_an_interrupted_run_resumes_where_it_stopped(corpus: Path, tmp_path: Path) -> None:
    config = load_nll_config(nll_config(corpus))
    seen: list[str] = []

    def stop_after_first(row: Any, done: int, total: int) -> None:
        seen.append(row.document)
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_nll(config, tmp_path / "run", cache=False, on_document=stop_after_first)
    again = run_nll(config, tmp_path / "run", cache=False)
    assert [r.document for r in again.rows] == ["b.txt", "c.md"]
    assert len(read_rows(tmp_path / "run")) == 3
    manifest = read_nll_manifest(tmp_path / "run")
    assert manifest is not None and len(manifest.sessions) == 2
    assert run_nll(config, tmp_path / "run", cache=False).rows == []  # all done


def test_a_resume_refuses_a_different_config(corpus: Path, tmp_path: Path) -> None:
    run_nll(load_nll_config(nll_config(corpus)), tmp_path / "run", cache=False)
    other = load_nll_config(nll_config(corpus, window=32))
    with pytest.raises(UserError, match="different config"):
        run_nll(other, tmp_path / "run", cache=False)
    # the fit is read at report time: changing it resumes the same run
    same = load_nll_config(nll_config(corpus, fit={"points": 30}))
    assert run_nll(same, tmp_path / "run", cache=False).rows == []


def test_the_cache_scores_a_window_once_across_runs(corpus: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIAH_CACHE_DIR", str(tmp_path / "cache"))  # no other test's windows
    config = load_nll_config(nll_config(corpus))
    scored: list[int] = []
    original = ScriptedSource.score

    def counting(self: ScriptedSource, ids: Any) -> np.ndarray:
        scored.append(len(ids))
        return original(self, ids)

    monkeypatch.setattr(ScriptedSource, "score", counting)
    first = run_nll(config, tmp_path / "one")
    assert len(scored) == 10 and not any(r.cached for r in first.rows)
    second = run_nll(config, tmp_path / "two")
    assert len(scored) == 10  # nothing scored again
    assert all(r.cached for r in second.rows)
    a = [load_nll(first.run_dir, r) for r in first.rows]
    b = [load_nll(second.run_dir, r) for r in second.rows]
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_a_failing_document_is_recorded_and_retried_later(corpus: Path, tmp_path: Path
                                                          ) -> None:
    fail_on = load_nll_config(nll_config(corpus))
    tokenizer = plan_nll(fail_on).models[0].tokenizer
    token = tokenizer.encode(text_of(200, 2))[0]  # the first token of b.txt only
    data = nll_config(corpus)
    data["model"]["options"]["fail_on_token"] = token
    run = run_nll(load_nll_config(data), tmp_path / "run", cache=False)
    assert [r.document for r in run.failures] == ["b.txt"]
    assert run.failures[0].error is not None
    assert run.failures[0].error.kind == "permanent"
    assert [r.error is None for r in run.rows] == [True, False, True]
    # running again (a config without the failure shapes the same numbers? no: options
    # differ, so resume the same config) retries only the failed document
    again = run_nll(load_nll_config(data), tmp_path / "run", cache=False)
    assert [r.document for r in again.rows] == ["b.txt"]


def test_transient_failures_are_retried_with_backoff() -> None:
    calls: list[int] = []
    waits: list[float] = []

    def flaky() -> np.ndarray:
        calls.append(1)
        if len(calls) < 3:
            raise TransientModelError("503", kind="server_error", status=503)
        return np.zeros(2, dtype=np.float32)

    assert with_retries(flaky, 3, waits.append).shape == (2,)
    assert waits == [1.0, 2.0]
    calls.clear()
    with pytest.raises(TransientModelError):
        with_retries(flaky, 1, waits.append)


def test_a_torn_last_row_is_dropped_and_its_document_scored_again(corpus: Path,
                                                                  tmp_path: Path) -> None:
    config = load_nll_config(nll_config(corpus))
    run_nll(config, tmp_path / "run", cache=False)
    path = tmp_path / "run" / DOCUMENTS_FILE
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:2]) + lines[2][:30])  # a crash mid-append
    again = run_nll(config, tmp_path / "run", cache=False)
    assert [r.document for r in again.rows] == ["c.md"]
    assert len(read_rows(tmp_path / "run")) == 3
    assert all(json.loads(line) for line in path.read_bytes().splitlines())


@pytest.mark.parametrize(("change", "error", "message"), [
    ({"model": "openai/gpt-4o"}, ConfigError,
     "model.id: openai/gpt-4o cannot be measured: OpenAI's API returns log-probabilities of "
     "generated tokens only"),
    ({"model": "anthropic/claude-3-5-haiku-latest"}, ConfigError,
     "returns no token log-probabilities"),
    ({"window": 100_000, "model": {"id": "scripted/x", "options": {"context_window": 4096}}},
     ConfigError, "window: 100,000 tokens exceed the context window of scripted/x (4,096)"),
    ({"model": {"id": "openai-compatible/m", "base_url": "http://127.0.0.1:9/v1"}},
     ConfigError, "tokenizer: auto cannot know the tokenizer of openai-compatible/m"),
    ({"corpora": [{"name": "p", "kind": "files", "path": "nowhere"}]}, HaystackError,
     "corpora[0].path: folder not found"),
    ({"corpora": [{"name": "p", "kind": "tree", "paths": ["python:no_such_package_x"]}]},
     UserError, "corpora[0].paths[0]: no Python package or module named"),
])
def test_bad_input_is_one_line_before_anything_runs(
    corpus: Path, change: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as info:
        plan_nll(load_nll_config(nll_config(corpus, **change)))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_an_empty_document_is_an_error_naming_it(corpus: Path) -> None:
    (corpus / "empty.txt").write_text("  \n\n")
    with pytest.raises(HaystackError, match=r"corpora\[0\]: document empty.txt is empty"):
        plan_nll(load_nll_config(nll_config(corpus)))


@pytest.mark.parametrize("window", [1, 0, -5])
def test_a_window_without_a_scorable_token_is_refused(corpus: Path, window: int) -> None:
    with pytest.raises(ConfigError, match=r"^window: .* leaves nothing to score"):
        load_nll_config(nll_config(corpus, window=window))


def test_min_tokens_and_max_documents_pick_the_documents(corpus: Path) -> None:
    data = nll_config(corpus, corpora=[{"name": "p", "kind": "files", "path": str(corpus),
                                        "min_tokens": 100, "max_documents": 1}])
    model = plan_nll(load_nll_config(data)).models[0]
    assert [d.name for d in model.documents] == ["a.txt"]
    data["corpora"][0]["max_documents"] = 5
    model = plan_nll(load_nll_config(data)).models[0]
    assert [d.name for d in model.documents] == ["a.txt", "b.txt"]
    assert model.skipped == {"p": 1}


def test_the_nll_cache_ignores_an_unreadable_file(tmp_path: Path) -> None:
    cache = NllCache(tmp_path)
    cache.put("ab" * 32, np.arange(4, dtype=np.float32))
    assert cache.get("ab" * 32, 4) is not None
    assert cache.get("ab" * 32, 5) is None  # another length: not this window
    (tmp_path / "ab" / f"{'ab' * 32}.npy").write_bytes(b"garbage")
    assert cache.get("ab" * 32, 4) is None
