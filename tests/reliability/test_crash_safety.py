"""Crash safety: ``niah run`` killed with SIGKILL again and again, resumed each time.

The run is a child process on the deterministic scripted backend, so its final rows
can be compared with an uninterrupted run's. Kill points cover the whole life of a
session: while importing, right after the manifest is written (lock held, nothing
appended yet), and at row counts spread over the run with small offsets so the kill
lands in different phases (waiting on the model, scoring, writing, fsync). The killed
sessions' model stops answering a little past each kill point, so no session can
finish before it is killed, however late a loaded machine lets the test look.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest

from niah.cli.main import main
from niah.results import MANIFEST_FILE, RESULTS_FILE, ResultRow, read_rows
from niah.store import LOCK_FILE
from tests.reliability import count_lines, niah_env, start_niah, write_config

LENGTHS = [100, 200, 300, 400]
DEPTHS = [float(d) for d in range(0, 101, 10)]
TRIALS = len(LENGTHS) * len(DEPTHS)
MODEL = {"id": "scripted/crash",
         "options": {"latency_s": 0.05, "recall": 0.6, "lost_in_the_middle": True}}
"""Recall below 1 so scores differ between trials, and a per-call latency so a run
lasts long enough to be killed in the middle (44 trials / concurrency 2 ~ 1.1 s)."""
IN_FLIGHT = 2
"""run.concurrency: answers a session may still be working on at its kill point."""
SESSION_TIMEOUT_S = 120.0
"""Reached only when something is broken (a loaded machine is slow, not stuck)."""
GATED_NIAH = """
import asyncio, os, sys
from niah.backends.registry import register
from niah.backends.scripted import ScriptedBackend
from niah.cli.main import main

LIMIT = int(os.environ["NIAH_TEST_ANSWERS"])
calls = 0

class Gated(ScriptedBackend):
    async def generate(self, request):
        global calls
        calls += 1
        if calls > LIMIT:
            await asyncio.Event().wait()  # held until the kill
        return await super().generate(request)

register("scripted")(Gated)
sys.exit(main(sys.argv[1:]))
"""
"""``niah`` whose scripted model answers only the first NIAH_TEST_ANSWERS calls and then
holds every call: a session can never finish before its kill point, however the
machine's load delays the test's polling."""

Trigger = Callable[[Path, float], bool]
"""(run dir, seconds since the child started) -> kill now?"""


class KillPoint(NamedTuple):
    trigger: Trigger
    rows: int
    """Rows the results file needs for the trigger (0: none, the model answers nothing)."""


def after_seconds(seconds: float) -> KillPoint:
    return KillPoint(lambda out, elapsed: elapsed >= seconds, 0)


def sessions(out: Path) -> int:
    try:
        return len(json.loads((out / MANIFEST_FILE).read_text())["sessions"])
    except (OSError, ValueError, KeyError):
        return 0


def after_manifest(seen: int) -> KillPoint:
    """The child wrote its session into the (atomically replaced) manifest: lock held."""
    return KillPoint(lambda out, elapsed: sessions(out) > seen, 0)


def after_rows(rows: int, delay_s: float) -> KillPoint:
    state: dict[str, float] = {}

    def trigger(out: Path, elapsed: float) -> bool:
        if "at" not in state and count_lines(out / RESULTS_FILE) >= rows:
            state["at"] = elapsed
        return "at" in state and elapsed - state["at"] >= delay_s

    return KillPoint(trigger, rows)


def kill_points(out: Path) -> list[Callable[[], KillPoint]]:
    """Eleven kill points; factories, since two depend on the state at session start."""
    return [
        lambda: after_seconds(0.3),  # still importing
        lambda: after_manifest(sessions(out)),  # lock taken, manifest written, no row yet
        lambda: after_rows(1, 0.0),
        lambda: after_rows(4, 0.013),
        lambda: after_manifest(sessions(out)),
        lambda: after_rows(9, 0.029),
        lambda: after_rows(14, 0.0),
        lambda: after_rows(20, 0.041),
        lambda: after_rows(27, 0.007),
        lambda: after_rows(33, 0.023),
        lambda: after_rows(40, 0.0),
    ]


def complete_part(data: bytes) -> bytes:
    """The whole lines of ``data`` (a kill may leave a torn tail, dropped on resume)."""
    return data[: data.rfind(b"\n") + 1]


def by_trial(rows: list[ResultRow]) -> dict[str, tuple[object, ...]]:
    return {r.trial_id: (r.score, r.response, r.prompt_sha256, r.context_length,
                         r.requested_depth, tuple(n.found for n in r.needles)) for r in rows}


def test_sigkill_at_eleven_points_then_resume_matches_an_uninterrupted_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = write_config(tmp_path, MODEL, lengths=LENGTHS, depths=DEPTHS, concurrency=2)
    out = tmp_path / "killed"
    env = niah_env(tmp_path / "cache-killed")
    args = ["run", str(cfg), "--out", str(out)]
    snapshots: list[bytes] = []
    killed_with_lock = 0
    for make_kill_point in kill_points(out):
        had_lock = (out / LOCK_FILE).exists()
        rows_before = count_lines(out / RESULTS_FILE)
        trigger, rows_needed = make_kill_point()
        # the rows it waits for, and the calls in flight when they land; no more
        answers = max(0, rows_needed - rows_before) + IN_FLIGHT if rows_needed else 0
        child = start_niah(args, {**env, "NIAH_TEST_ANSWERS": str(answers)},
                           command=[sys.executable, "-c", GATED_NIAH])
        t0 = time.monotonic()
        while child.poll() is None and not trigger(out, time.monotonic() - t0):
            assert time.monotonic() - t0 < SESSION_TIMEOUT_S, "kill point never reached"
            time.sleep(0.002)
        child.send_signal(signal.SIGKILL)
        _, err = child.communicate(timeout=SESSION_TIMEOUT_S)  # reaped: its pid is dead
        assert child.returncode == -signal.SIGKILL, f"finished before its kill point: {err}"
        assert "Traceback" not in err
        if had_lock and count_lines(out / RESULTS_FILE) > rows_before:
            assert "stale lock of dead pid" in err  # this session recovered the last lock
        killed_with_lock += (out / LOCK_FILE).exists()
        if (out / RESULTS_FILE).exists():
            snapshots.append((out / RESULTS_FILE).read_bytes())
            stored = [r.trial_id for r in read_rows(out)]
            assert len(set(stored)) == len(stored)  # never a trial stored twice
    assert killed_with_lock >= 8  # most kills left a lock for the next session to recover

    done = start_niah(args, env)
    _, err = done.communicate(timeout=SESSION_TIMEOUT_S)
    assert done.returncode == 0, err
    final = (out / RESULTS_FILE).read_bytes()
    for snapshot in snapshots:  # append-only: no stored row was rewritten or reordered
        assert final.startswith(complete_part(snapshot))
    rows = read_rows(out)
    assert len(rows) == TRIALS and len({r.trial_id for r in rows}) == TRIALS
    assert not (out / LOCK_FILE).exists()
    assert len(json.loads((out / MANIFEST_FILE).read_text())["sessions"]) >= 11

    monkeypatch.setenv("NIAH_CACHE_DIR", str(tmp_path / "cache-whole"))
    whole = tmp_path / "whole"
    assert main([*args[:2], "--out", str(whole)]) == 0
    expected = read_rows(whole)
    assert by_trial(rows) == by_trial(expected)
    assert 0 < sum(r.score or 0 for r in rows) < TRIALS  # scores really differ by trial


@pytest.fixture
def finished_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("NIAH_CACHE_DIR", str(tmp_path / "cache"))
    cfg = write_config(tmp_path, "scripted/perfect", concurrency=1, cache=False)
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out)]) == 0
    return cfg, out


def test_a_torn_last_line_is_dropped_with_a_warning_and_its_trial_runs_again(
    finished_run: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    cfg, out = finished_run
    results = out / RESULTS_FILE
    lines = results.read_bytes().splitlines(keepends=True)
    whole = read_rows(out)
    torn = lines[-1][: len(lines[-1]) // 2]  # a crash in the middle of the last write
    results.write_bytes(b"".join(lines[:-1]) + torn)
    with caplog.at_level(logging.WARNING, logger="niah"):
        assert len(read_rows(out)) == len(whole) - 1  # readers skip it too
        assert main(["run", str(cfg), "--out", str(out)]) == 0
    warned = [r.getMessage() for r in caplog.records if "torn" in r.getMessage()]
    assert any(f"line {len(lines)} is torn" in w and "will run again" in w for w in warned)
    rows = read_rows(out)
    assert [r.trial_id for r in rows] == [r.trial_id for r in whole]  # re-run, once
    assert rows[-1].score == whole[-1].score and rows[-1].response == whole[-1].response
    data = results.read_bytes()
    assert data.startswith(b"".join(lines[:-1])) and data.count(b"\n") == len(lines)
    assert rows[-1].timestamp != whole[-1].timestamp  # a new row, not the torn one patched


def test_damage_before_the_last_line_stops_with_a_clear_error(
    finished_run: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, out = finished_run
    results = out / RESULTS_FILE
    lines = results.read_bytes().splitlines(keepends=True)
    lines[2] = b'{"not": "a row"}\n'
    results.write_bytes(b"".join(lines))
    before = results.read_bytes()
    capsys.readouterr()
    assert main(["run", str(cfg), "--out", str(out)]) == 2  # a damaged file is bad input
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "line 3 is not a valid result row" in err
    assert results.read_bytes() == before  # nothing dropped or rewritten
    assert not (out / LOCK_FILE).exists()
