"""``niah plan``: the grid table, exit 0, overrides, and the context-window check."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from niah.cli.main import main

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "configs" / "quickstart.yaml"
NEEDLE = {"text": "The special magic number is {value}.",
          "question": "What is the special magic number?"}


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


def config(tmp_path: Path, **top: Any) -> str:
    data = {"name": "plan-test", "model": "scripted/perfect", "needles": [NEEDLE],
            "grid": {"context_lengths": [300, 600], "depth_percents": [0, 50, 100]}, **top}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def row(printed: str, model: str) -> list[str]:
    line = next(x for x in printed.splitlines() if x.startswith("│") and model in x)
    return [c.strip() for c in line.split("│")[1:-1]]


def number(cell: str) -> int:
    return int(cell.replace(",", ""))


def test_quickstart_with_a_scripted_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(QUICKSTART), "--model", "scripted/perfect"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "quickstart: 3 lengths x 5 depths x 1 repeats = 15 trials per model" in out
    assert "lengths: 1K, 2K, 4K" in out
    assert "depths:  0%, 25%, 50%, 75%, 100%" in out
    _, tokenizer, trials, total, largest, max_out, cost = row(out, "scripted/perfect")
    assert tokenizer == "tiktoken:cl100k_base" and trials == "15"
    assert max_out == f"{15 * 48:,}" and cost == "0.0000"
    # contexts are exact, so the totals are the lengths plus the per-trial overhead
    overhead = number(largest) - 4000
    assert 20 < overhead < 100
    assert f"template overhead {overhead} tokens" in out
    assert number(total) == 5 * (1000 + 2000 + 4000) + 15 * overhead


def test_quickstart_with_its_embedded_model(smollm2_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(QUICKSTART)]) == 0
    out, err = capsys.readouterr()
    # llama.cpp's log callback writes to sys.stderr, past the fd-level silencer; no error
    assert "error" not in err
    cells = row(out, "llamacpp/smollm2")
    assert cells[1].startswith("llamacpp:") and cells[2] == "15"
    assert number(cells[4]) > 4000


def test_quickstart_as_a_subprocess(smollm2_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "niah", "plan", "configs/quickstart.yaml"], cwd=REPO,
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stderr
    assert "15 trials per model" in done.stdout and "llamacpp/smollm2-135m" in done.stdout
    assert "Traceback" not in done.stderr


def test_overrides_change_the_grid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["plan", config(tmp_path), "--lengths", "200,400", "--depths", "10,90",
            "--set", "grid.repeats=2", "--model", "scripted/a", "--model", "scripted/b"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "2 lengths x 2 depths x 2 repeats = 8 trials per model" in out
    assert "lengths: 200, 400" in out and "depths:  10%, 90%" in out
    a, b = row(out, "scripted/a"), row(out, "scripted/b")
    assert a[2:] == b[2:] and a[2] == "8"


def test_several_needles_are_counted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = config(tmp_path, needles=[{**NEEDLE, "count": 3}])
    assert main(["plan", path]) == 0
    assert "6 trials per model, 3 needle(s) per trial" in capsys.readouterr().out


def test_files_haystack_shorter_than_the_context_is_repeated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.txt").write_text("A short text about the sea. It has two sentences.\n")
    path = config(tmp_path, haystack={"kind": "files", "path": "corpus"})
    assert main(["plan", path]) == 0
    out = capsys.readouterr().out
    assert re.search(r"1 file from .*corpus, repeated [\d.]+x to fill the longest context", out)


def test_a_context_window_that_fits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = config(tmp_path, model={"id": "scripted/x", "context_window": 800},
                  run={"max_tokens": 64})
    assert main(["plan", path]) == 0  # 600 + overhead + 64 fits 800
    capsys.readouterr()


@pytest.mark.parametrize("command", ["plan", "build"])
def test_lengths_beyond_the_context_window_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    path = config(tmp_path, model={"id": "scripted/x", "context_window": 1000},
                  grid={"context_lengths": [500, 2000], "depth_percents": [50]})
    out_file = tmp_path / "p.jsonl"
    extra = ["--out", str(out_file)] if command == "build" else []
    assert main([command, path, *extra]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("niah: error: grid.context_lengths: 2000 does not fit scripted/x")
    assert "context window of 1000" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp.yaml"]
    # max_tokens counts too: a prompt that fits alone but not with its answer
    tight = config(tmp_path, model={"id": "scripted/x", "context_window": 700},
                   grid={"context_lengths": [600], "depth_percents": [50]},
                   run={"max_tokens": 64})
    assert main(["plan", tight]) == 2
    assert "run.max_tokens 64" in capsys.readouterr().err
