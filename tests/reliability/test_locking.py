"""One writer per run directory: a live run refuses a second one, a dead run's lock is
recovered. The first run is a real child process, so the lock is tested across
processes exactly as two terminals would meet it."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from niah import store as store_module
from niah.cli.main import main
from niah.config import load_experiment
from niah.errors import LockedError
from niah.results import MANIFEST_FILE, read_rows
from niah.runner import run
from niah.store import LOCK_FILE
from tests.reliability import ctrl_c, niah_env, start_niah, write_config

TRIALS = 6
SLOW = {"id": "scripted/slow", "options": {"latency_s": 600}}
"""The first run never finishes on its own (Ctrl-C ends it), so it is surely alive while
the others try, however loaded the machine."""
FAST_MODEL = {"id": "scripted/slow", "options": {"latency_s": 0}}
"""The same experiment answered at once (a run that should have been refused then
finishes quickly, and the test fails, instead of hanging)."""
FAST = f"model={json.dumps(FAST_MODEL)}"
DEADLINE_S = 120.0
"""For events the test waits on; reached only when something is broken."""


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NIAH_CACHE_DIR", str(tmp_path / "cache"))
    return write_config(tmp_path, SLOW, concurrency=1)


def lock_owner(out: Path) -> int | None:
    try:
        return int(json.loads((out / LOCK_FILE).read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


def session_pids(out: Path) -> list[int]:
    try:
        return [s["pid"] for s in json.loads((out / MANIFEST_FILE).read_text())["sessions"]]
    except (OSError, ValueError, KeyError):
        return []


def error_line(err: str) -> str:
    lines = [x for x in err.splitlines() if x.startswith(("niah: error:", "niah: failed:"))]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def reaped_pid() -> int:
    """The pid of a process that has exited and been waited for (so it is surely dead)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_second_run_is_refused_while_the_first_is_alive(
    cfg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    first = start_niah(["run", str(cfg), "--out", str(out)], niah_env(tmp_path / "cache"))
    try:
        deadline = time.monotonic() + DEADLINE_S
        # the lock is taken before the manifest is written: wait for both
        while lock_owner(out) != first.pid or session_pids(out) != [first.pid]:
            assert first.poll() is None and time.monotonic() < deadline, "first run never locked"
            time.sleep(0.02)

        assert main(["run", str(cfg), "--out", str(out), "--set", FAST]) == 2
        err = error_line(capsys.readouterr().err)
        assert f"{out}: in use by a running niah (pid {first.pid}, since " in err
        assert "wait for it, or use --fresh or another --out" in err
        with pytest.raises(LockedError, match=f"pid {first.pid}"):
            run(load_experiment(cfg, model=FAST_MODEL), out)  # the Python API refuses too
        assert main(["rescore", str(out)]) == 2  # nor may a rescore rewrite it meanwhile
        assert first.poll() is None  # the refusals did not disturb the first run
        assert lock_owner(out) == first.pid
        assert session_pids(out) == [first.pid]  # the refused runs wrote nothing
    finally:
        first_err = ctrl_c(first)  # frees the lock
    assert first.returncode == 130, first_err
    assert not (out / LOCK_FILE).exists()
    assert read_rows(out) == []  # it was still waiting for its first answer
    assert main(["run", str(cfg), "--out", str(out), "--set", FAST]) == 0
    rows = read_rows(out)
    assert len(rows) == TRIALS and len({r.trial_id for r in rows}) == TRIALS


def test_a_stale_lock_of_a_dead_process_is_recovered_with_a_message(
    cfg: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    pid = reaped_pid()
    lock = {"pid": pid, "host": socket.gethostname(), "started": "2024-01-01T00:00:00+00:00"}
    (out / LOCK_FILE).write_text(json.dumps(lock))
    with caplog.at_level(logging.WARNING, logger="niah"):
        assert main(["run", str(cfg), "--out", str(out), "--set", FAST]) == 0
    assert f"stale lock of dead pid {pid} recovered" in caplog.text
    assert len(read_rows(out)) == TRIALS and not (out / LOCK_FILE).exists()


def test_an_empty_lock_left_by_a_crash_is_recovered_once_old(
    cfg: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A kill between creating the lock and writing its pid leaves an empty file: young,
    it may be a run starting right now (refuse); old, it is debris (remove, say so)."""
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_FILE).write_bytes(b"")
    with monkeypatch.context() as patch:
        # still young when the run looks at it, however long a loaded machine takes to
        # get there (seconds: loading the config and the tokenizer)
        patch.setattr(store_module, "_YOUNG_LOCK_S", 600.0)
        assert main(["run", str(cfg), "--out", str(out), "--set", FAST]) == 2
    assert "locked by a run that is starting" in error_line(capsys.readouterr().err)
    old = time.time() - 60
    os.utime(out / LOCK_FILE, (old, old))
    with caplog.at_level(logging.WARNING, logger="niah"):
        assert main(["run", str(cfg), "--out", str(out), "--set", FAST]) == 0
    assert "unreadable lock file removed" in caplog.text
    assert len(read_rows(out)) == TRIALS


def test_a_lock_held_on_another_host_is_never_broken(
    cfg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A shared folder (NFS): a pid on another machine cannot be checked from here."""
    out = tmp_path / "out"
    out.mkdir()
    lock = {"pid": reaped_pid(), "host": "other-machine", "started": "now"}
    (out / LOCK_FILE).write_text(json.dumps(lock))
    assert main(["run", str(cfg), "--out", str(out), "--set", FAST]) == 2
    err = error_line(capsys.readouterr().err)
    assert "on other-machine" in err and f"delete {out / LOCK_FILE}" in err
    assert json.loads((out / LOCK_FILE).read_text()) == lock
