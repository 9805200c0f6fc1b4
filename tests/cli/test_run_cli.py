from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from niah.cli.main import main
from niah.results import MANIFEST_FILE, RESULTS_FILE, read_rows
from niah.store import LOCK_FILE
from tests.fakes.openai_server import FakeOpenAIServer, FaultConfig
from tests.reliability import count_lines, ctrl_c, start_niah

NEEDLE = {"text": "The special magic number is {value}.",
          "question": "What is the special magic number?"}


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIAH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "160")  # rich tables unwrapped, to read them
    monkeypatch.chdir(tmp_path)


def cells(printed: str, first: str) -> list[str]:
    """The cells of the table row whose first cell is ``first``."""
    for line in printed.splitlines():
        parts = [c.strip() for c in line.split("│")[1:-1]]
        if parts and parts[0] == first:
            return parts
    return []


def config(tmp_path: Path, model: Any = "scripted/perfect", **run: Any) -> str:
    data = {
        "name": "cli-test",
        "model": model,
        "needles": [NEEDLE],
        "grid": {"context_lengths": [200, 400], "depth_percents": [0, 50, 100]},
        "run": {"concurrency": 2, **run},
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_run_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["run", config(tmp_path), "--out", str(out)]) == 0
    rows = read_rows(out)
    assert len(rows) == 6 and all(r.score == 1.0 for r in rows)
    assert not (out / LOCK_FILE).exists()
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["models"][0]["tokenizer"] == "tiktoken:cl100k_base"
    printed = capsys.readouterr()
    assert "recall by context length" in printed.out
    # one row per length, then all / errors / cost; one column per model
    assert "scripted/perfect" in printed.out
    assert cells(printed.out, "200") == ["200", "1.00"]
    assert cells(printed.out, "400") == ["400", "1.00"]
    assert cells(printed.out, "all") == ["all", "1.00"]
    assert cells(printed.out, "errors") == ["errors", "0"]
    assert cells(printed.out, "cost") == ["cost", "$0"]
    assert f"results: {out / RESULTS_FILE}" in printed.out
    assert "6/6" in printed.err  # the progress bar


def test_default_out_resumes_and_fresh_starts_anew(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    folder = tmp_path / "results" / "cli-test"
    assert main(["run", cfg]) == 0
    assert main(["run", cfg]) == 0
    runs = [p for p in folder.iterdir() if not p.is_symlink()]
    assert len(runs) == 1 and len(read_rows(runs[0])) == 6
    assert main(["run", cfg, "--fresh"]) == 0
    runs = sorted(p for p in folder.iterdir() if not p.is_symlink())
    assert len(runs) == 2
    assert all(r.cached for r in read_rows(runs[1]))  # the fresh run paid nothing
    assert (folder / "latest").resolve() == runs[1].resolve()  # each run moves the pointer


def test_several_models(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    argv = ["run", config(tmp_path), "--out", str(out),
            "--model", "scripted/perfect", "--model", "scripted/other", "--lengths", "300"]
    assert main(argv) == 0
    rows = read_rows(out)
    assert sorted({r.model for r in rows}) == ["scripted/other", "scripted/perfect"]
    assert len(rows) == 6 and {r.context_length for r in rows} == {300}
    printed = capsys.readouterr().out
    assert "scripted/other" in printed and "scripted/perfect" in printed


def test_dry_run_sends_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(tmp_path)
    assert main(["run", cfg, "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "dry run" in printed and "scripted/perfect" in printed
    assert not (tmp_path / "results").exists()
    assert not (tmp_path / "cache" / "responses").exists()
    assert main(["run", cfg, "--out", str(tmp_path / "a")]) == 0
    capsys.readouterr()
    assert main(["run", cfg, "--out", str(tmp_path / "b"), "--dry-run"]) == 0
    # model, trials, stored, cached, to send, prompt tokens, cost
    assert cells(capsys.readouterr().out, "scripted/perfect") == [
        "scripted/perfect", "6", "0", "6", "0", "0", "$0"
    ]
    assert main(["run", cfg, "--out", str(tmp_path / "a"), "--dry-run"]) == 0
    assert cells(capsys.readouterr().out, "scripted/perfect")[1:5] == ["6", "6", "0", "0"]
    assert not (tmp_path / "b").exists()


def test_bad_input_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["run", config(tmp_path), "--out", str(out), "--lengths", "abc"]) == 2
    small = {"id": "scripted/small", "options": {"context_window": 300}}
    assert main(["run", config(tmp_path, small), "--out", str(out)]) == 2
    assert "grid.context_lengths: 400 does not fit scripted/small" in capsys.readouterr().err
    assert not out.exists()


def test_a_failing_run_exits_1_and_keeps_its_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = {"id": "scripted/bad", "options": {"error_rate": 1.0, "error_kind": "permanent"}}
    out = tmp_path / "out"
    cfg = config(tmp_path, bad, concurrency=1, min_trials_before_abort=2)
    assert main(["run", cfg, "--out", str(out)]) == 1
    assert "niah: failed: scripted/bad: 2 of 2 trials failed" in capsys.readouterr().err
    assert len(read_rows(out)) == 2 and not (out / LOCK_FILE).exists()


def test_a_locked_directory_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    lock = {"pid": os.getppid(), "host": os.uname().nodename, "started": "now"}
    (out / LOCK_FILE).write_text(json.dumps(lock))
    assert main(["run", config(tmp_path), "--out", str(out)]) == 2
    assert "in use by a running niah" in capsys.readouterr().err


def test_rescore(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["run", config(tmp_path), "--out", str(out)]) == 0
    before = (out / RESULTS_FILE).read_bytes()
    assert main(["rescore", str(out), "--scoring", "exact"]) == 0
    assert "6 scores changed" in capsys.readouterr().out
    assert all(r.score == 0.0 and r.needles[0].found is False for r in read_rows(out))
    assert (out / (RESULTS_FILE + ".bak")).read_bytes() == before
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["config"]["scoring"]["kind"] == "exact"
    assert manifest["rescored"][0]["scoring"]["kind"] == "exact"
    assert main(["rescore", str(out), "--pattern", "magic number is {answer}"]) == 0
    assert all(r.score == 1.0 for r in read_rows(out))
    assert main(["rescore", str(out)]) == 0  # the run's scorer is now the regex
    assert "0 scores changed" in capsys.readouterr().out
    assert not (out / LOCK_FILE).exists()


def test_rescore_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rescore", str(tmp_path / "nope")]) == 2
    out = tmp_path / "out"
    assert main(["run", config(tmp_path), "--out", str(out)]) == 0
    assert main(["rescore", str(out), "--scoring", "regex"]) == 2
    assert "scoring.pattern: is required" in capsys.readouterr().err
    assert main(["rescore", str(out), "--pattern", "(["]) == 2
    lock = {"pid": os.getppid(), "host": os.uname().nodename, "started": "now"}
    (out / LOCK_FILE).write_text(json.dumps(lock))
    assert main(["rescore", str(out)]) == 2  # a run is writing it
    assert "in use by a running niah" in capsys.readouterr().err


def test_ctrl_c_keeps_finished_rows_and_the_next_run_resumes(tmp_path: Path) -> None:
    """The model answers two requests and holds the third until the test ends, so the
    Ctrl-C surely lands mid-run with exactly two rows finished, however slow the machine."""
    hold_third = FaultConfig(script=[None, None, "slow"], slow_delay_s=600)
    with FakeOpenAIServer(hold_third) as server:
        model = {"id": "openai-compatible/m", "base_url": server.base_url}
        cfg = config(tmp_path, model, concurrency=1, cache=False)
        out = tmp_path / "out"
        proc = start_niah(["run", cfg, "--out", str(out)],
                          {**os.environ, "NIAH_CACHE_DIR": str(tmp_path / "cache")})
        try:
            deadline = time.monotonic() + 120
            while count_lines(out / RESULTS_FILE) < 2 or server.stats["requests"] < 3:
                assert proc.poll() is None and time.monotonic() < deadline, "never got there"
                time.sleep(0.02)
        finally:
            err = ctrl_c(proc)
        assert proc.returncode == 130, err
        assert "interrupted: finished rows are kept" in err
        assert not (out / LOCK_FILE).exists()
        kept = read_rows(out)
        assert len(kept) == 2 and all(r.score == 1.0 for r in kept)
        assert main(["run", cfg, "--out", str(out)]) == 0
        assert server.stats["requests"] == 3 + 4  # the kept trials were not asked again
    rows = read_rows(out)
    assert len(rows) == 6 and len({r.trial_id for r in rows}) == 6
    assert rows[:2] == kept
