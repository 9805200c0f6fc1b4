"""``niah nll`` and ``niah report`` on NLL runs, through the real CLI in-process.

Bad input exits 2 with one line naming the field or file and writes nothing: the
working folder holds only the config and an empty ``out/`` before and after.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from niah.cli.main import main
from tests.nll.conftest import nll_config, text_of


def _setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **change: Any) -> Path:
    monkeypatch.chdir(tmp_path)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text(text_of(400))
    (docs / "b.txt").write_text("Zanzibar " + text_of(300, 1))
    data = nll_config(Path("docs"), **change)
    (tmp_path / "nll.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "out").mkdir()
    return tmp_path / "nll.yaml"


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize(("change", "setup", "line"), [
    ({}, "empty", "niah: error: corpora[0]: document empty.txt is empty"),
    ({"model": "openai/gpt-4o-mini"}, None,
     "niah: error: model.id: openai/gpt-4o-mini cannot be measured: OpenAI's API returns "
     "log-probabilities of generated tokens only, never of the prompt; NLL by position needs "
     "the log-probability of every prompt token"),
    ({"model": "anthropic/claude-sonnet-4-5"}, None,
     "niah: error: model.id: anthropic/claude-sonnet-4-5 cannot be measured: Anthropic's API "
     "returns no token log-probabilities"),
    ({"window": 1}, None,
     "niah: error: window: 1 token leaves nothing to score (a window's first token has no "
     "context); use 2 or more"),
    ({"windows": 4}, None, "niah: error: windows: unknown key"),
    ({"corpora": [{"name": "c", "kind": "tree"}]}, None,
     "niah: error: corpora[0]: paths is required when kind is 'tree'"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    change: dict[str, Any], setup: str | None, line: str,
) -> None:
    config = _setup(tmp_path, monkeypatch, **change)
    if setup == "empty":
        (tmp_path / "docs" / "empty.txt").write_text("")
    before = _files(tmp_path)
    code = main(["nll", str(config), "--out", "out/run"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(line), err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert _files(tmp_path) == before


def test_a_run_then_its_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    config = _setup(tmp_path, monkeypatch)
    assert main(["nll", str(config), "--dry-run"]) == 0
    assert not (tmp_path / "results").exists()
    assert main(["nll", str(config), "--window", "100", "--set", "max_document_tokens=200"]) == 0
    captured = capsys.readouterr()
    assert "[2/2] scripted/power prose b.txt: 200 tokens, mean NLL" in captured.err
    runs = list((tmp_path / "results" / "nll-test").iterdir())
    assert len(runs) == 1
    assert f"figure: niah report {runs[0].relative_to(tmp_path)}" in captured.out
    # the same command again resumes the same directory, with nothing left to do
    assert main(["nll", str(config), "--window", "100", "--set", "max_document_tokens=200"]) == 0
    assert len(list((tmp_path / "results" / "nll-test").iterdir())) == 1
    capsys.readouterr()
    assert main(["report", str(runs[0])]) == 0
    out = capsys.readouterr().out
    assert "Power-law fits" in out and "power" in out
    assert sorted(os.listdir(runs[0] / "report")) == ["nll.png", "nll_curve.csv", "nll_fit.csv"]


def test_failed_documents_exit_1_after_the_others_are_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from niah.tokenizers import load_tokenizer

    token = load_tokenizer("tiktoken:cl100k_base").encode("Zanzibar")[0]
    config = _setup(tmp_path, monkeypatch, model={
        "id": "scripted/power", "options": {"fail_on_token": token}})
    assert main(["nll", str(config), "--out", "out/run"]) == 1
    err = capsys.readouterr().err
    assert "niah: failed: 1 document(s) failed, e.g. b.txt" in err
    assert (tmp_path / "out" / "run" / "arrays").exists()


def test_report_refuses_to_mix_nll_and_needle_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _setup(tmp_path, monkeypatch)
    assert main(["nll", str(config), "--out", "out/run"]) == 0
    needle = tmp_path / "needle"
    needle.mkdir()
    (needle / "manifest.json").write_text('{"experiment": "x"}')
    capsys.readouterr()
    assert main(["report", "out/run", str(needle)]) == 2
    assert "not an NLL run" in capsys.readouterr().err


@pytest.mark.slow
def test_the_embedded_model_on_python_docs_and_python_source(
    smollm2_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Offline, end to end: prose and code, one 384-token window each (seconds, not the
    8K of configs/nll-quickstart.yaml, whose run is committed under results/examples)."""
    monkeypatch.chdir(tmp_path)
    data = {
        "name": "nll-e2e",
        "model": {"id": "llamacpp/smollm2-135m",
                  "options": {"n_threads": 1, "n_threads_batch": 1, "n_batch": 128}},
        "corpora": [
            {"name": "prose", "kind": "python-docs", "min_tokens": 384, "max_documents": 1},
            {"name": "code", "kind": "tree", "paths": ["python:json"]},
        ],
        "window": 384,
        "fit": {"points": 30},
    }
    (tmp_path / "nll.yaml").write_text(yaml.safe_dump(data))
    assert main(["nll", "nll.yaml", "--out", "run"]) == 0
    assert main(["report", "run"]) == 0
    capsys.readouterr()
    from niah.nll.curve import load_series

    series = {s.corpus: s for s in load_series(["run"])}
    assert set(series) == {"prose", "code"}
    for s in series.values():
        assert s.positions[0] == 2 and s.positions[-1] == 384
        # the curve decreases with position: context helps
        assert s.cumulative[-1] < 0.6 * s.cumulative[0]
        assert s.mean[-100:].mean() < s.mean[:20].mean()
        assert s.fit is not None and s.fit.beta > 0 and s.fit.r2 > 0.9
    assert (tmp_path / "run" / "report" / "nll.png").stat().st_size > 20_000
