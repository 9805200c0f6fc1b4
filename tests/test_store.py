from __future__ import annotations

import errno
import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from niah.config import Experiment, load_experiment
from niah.errors import LockedError, ResultsError, StoreError, UserError
from niah.results import MANIFEST_FILE, RESULTS_FILE, NeedleResult, ResultRow, read_rows
from niah.store import LOCK_FILE, RunStore

MODELS = [{"id": "scripted/a", "backend": {"id": "scripted/a"}, "tokenizer": "tiktoken:x"}]


def experiment(**changes: Any) -> Experiment:
    data: dict[str, Any] = {
        "name": "store-test",
        "model": "scripted/a",
        "needles": [{"text": "The special magic number is {value}.", "question": "What?"}],
        "grid": {"context_lengths": [100], "depth_percents": [50]},
    }
    data.update(changes)
    return load_experiment(data)


def row(trial_id: str, model: str = "scripted/a") -> ResultRow:
    return ResultRow(
        trial_id=trial_id, experiment="store-test", model=model, context_length=100,
        context_tokens=100, prompt_tokens=130, requested_depth=50.0, actual_depth=49.0,
        needles=[NeedleResult(text="n", answer="1", token_offset=49, actual_depth=49.0,
                              found=True)],
        response="1", score=1.0, seed=1, prompt_sha256="0" * 64, niah_version="0",
        timestamp="2026-11-01T00:00:00+00:00",
    )


def test_open_writes_manifest_and_lock_and_close_releases(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with RunStore.open(run_dir, experiment(), MODELS) as store:
        lock = json.loads((run_dir / LOCK_FILE).read_text())
        assert lock["pid"] == os.getpid() and lock["host"] == socket.gethostname()
        manifest = json.loads((run_dir / MANIFEST_FILE).read_text())
        assert manifest["config"]["name"] == "store-test"
        assert manifest["models"] == MODELS
        assert {"niah_version", "schema_version", "fingerprint", "started_at", "host"} <= set(
            manifest
        )
        assert {"python", "platform", "cpu_count"} <= set(manifest["host"])
        store.append(row("t1"))
    assert not (run_dir / LOCK_FILE).exists()
    assert [r.trial_id for r in read_rows(run_dir)] == ["t1"]
    assert not list(run_dir.glob(".*tmp"))


def test_reopen_resumes_and_keeps_the_first_start_time(tmp_path: Path) -> None:
    with RunStore.open(tmp_path, experiment(), MODELS) as store:
        store.append(row("t1"))
        store.append(row("t2", model="scripted/b"))
    first = json.loads((tmp_path / MANIFEST_FILE).read_text())
    with RunStore.open(tmp_path, experiment(), MODELS) as store:
        assert store.done("scripted/a") == {"t1"}
        assert store.done("scripted/b") == {"t2"}
        store.append(row("t3"))
    manifest = json.loads((tmp_path / MANIFEST_FILE).read_text())
    assert manifest["started_at"] == first["started_at"]
    assert len(manifest["sessions"]) == 2
    assert [r.trial_id for r in read_rows(tmp_path)] == ["t1", "t2", "t3"]


@pytest.mark.parametrize("tail", [b'{"schema_version": 1, "trial_id": "t', b"garbage\n", b"{}"])
def test_a_torn_last_line_is_dropped_and_appends_stay_clean(
    tmp_path: Path, tail: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with RunStore.open(tmp_path, experiment(), MODELS) as store:
        store.append(row("t1"))
    results = tmp_path / RESULTS_FILE
    good = results.read_bytes()
    results.write_bytes(good + tail)
    assert [r.trial_id for r in read_rows(tmp_path)] == ["t1"]  # readers skip it too
    with caplog.at_level(logging.WARNING, logger="niah"), \
            RunStore.open(tmp_path, experiment(), MODELS) as store:
        assert results.read_bytes() == good  # cut back to the last good newline
        assert store.done("scripted/a") == {"t1"}
        store.append(row("t2"))
    assert "torn" in caplog.text and "run again" in caplog.text
    assert [r.trial_id for r in read_rows(tmp_path)] == ["t1", "t2"]


def test_a_bad_line_before_the_end_is_an_error(tmp_path: Path) -> None:
    results = tmp_path / RESULTS_FILE
    results.write_text("not json\n" + row("t1").model_dump_json() + "\n")
    with pytest.raises(ResultsError, match=r"line 1 is not a valid result row"):
        RunStore.open(tmp_path, experiment(), MODELS)
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_live_lock_refuses(tmp_path: Path) -> None:
    with RunStore.open(tmp_path, experiment(), MODELS), pytest.raises(
        LockedError, match=r"in use by a running niah \(pid \d+"
    ):
        RunStore.open(tmp_path, experiment(), MODELS)


def test_a_lock_of_another_live_process_refuses(tmp_path: Path) -> None:
    info = {"pid": os.getppid(), "host": socket.gethostname(), "started": "x"}
    (tmp_path / LOCK_FILE).write_text(json.dumps(info))
    with pytest.raises(LockedError):
        RunStore.open(tmp_path, experiment(), MODELS)
    other = {"pid": 1, "host": "elsewhere", "started": "x"}
    (tmp_path / LOCK_FILE).write_text(json.dumps(other))
    with pytest.raises(LockedError, match="on elsewhere"):
        RunStore.open(tmp_path, experiment(), MODELS)


def test_a_stale_lock_is_recovered(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    dead = int(child.stdout)
    info = {"pid": dead, "host": socket.gethostname(), "started": "x"}
    (tmp_path / LOCK_FILE).write_text(json.dumps(info))
    with caplog.at_level(logging.WARNING, logger="niah"), \
            RunStore.open(tmp_path, experiment(), MODELS):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert f"stale lock of dead pid {dead} recovered" in caplog.text


def test_another_experiment_or_fresh_refuses_a_used_directory(tmp_path: Path) -> None:
    with RunStore.open(tmp_path, experiment(), MODELS) as store:
        store.append(row("t1"))
    with pytest.raises(UserError, match="different experiment"):
        RunStore.open(tmp_path, experiment(seed=5), MODELS)
    with pytest.raises(UserError, match="--fresh needs a new directory"):
        RunStore.open(tmp_path, experiment(), MODELS, fresh=True)
    assert not (tmp_path / LOCK_FILE).exists()


def test_an_unwritable_out_is_a_user_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UserError, match=r"^--out .*cannot create directory"):
        RunStore.open(blocker / "run", experiment(), MODELS)


def test_a_failed_append_leaves_no_half_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RunStore.open(tmp_path, experiment(), MODELS)
    store.append(row("t1"))
    before = (tmp_path / RESULTS_FILE).read_bytes()
    real_write = os.write
    calls = []

    def half_then_full(fd: int, data: Any) -> int:
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(StoreError, match="cannot append a row \\(disk full\\)"):
        store.append(row("t2"))
    monkeypatch.undo()
    assert (tmp_path / RESULTS_FILE).read_bytes() == before
    store.append(row("t3"))
    store.close()
    assert [r.trial_id for r in read_rows(tmp_path)] == ["t1", "t3"]


def test_load_rows_needs_a_run(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not a niah run directory"):
        read_rows(tmp_path)
