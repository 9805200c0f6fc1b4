"""Unwritable and full disks: a clear one-line error, and no stored row harmed.

Read-only directories are tested for real: the tests run as root here, where file
modes do not bind (CAP_DAC_OVERRIDE), so the child ``niah run`` drops that capability
(and its two relatives) from its bounding set before exec; it stays uid 0, so it can
still read the interpreter under /root, but a 0o555 directory or a 0o444 file now
refuses it as it would refuse any user. Where capabilities cannot be dropped the test
skips, and two mode-free tricks still run everywhere: an ``--out`` whose parent is a
regular file, and a ``results.jsonl`` that is a directory. A full disk is simulated by
making ``os.write`` / ``os.fsync`` fail with ENOSPC for the results file only.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from niah.cli.main import main
from niah.results import MANIFEST_FILE, RESULTS_FILE, read_rows
from niah.store import LOCK_FILE
from tests.reliability import count_lines, files_under, niah_env, start_niah, write_config

PR_CAPBSET_DROP = 24
FILE_MODE_CAPS = (1, 2, 3)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
TRIALS = 6  # lengths 100, 200 x depths 0, 50, 100
READ_ONLY_DIR = stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH \
    | stat.S_IXOTH


def _drop_file_mode_caps() -> None:
    """preexec_fn: lose the capabilities that let root ignore file modes, for good."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in FILE_MODE_CAPS:
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) refused")


@pytest.fixture
def bound_by_modes(tmp_path: Path) -> Callable[[], None] | None:
    """A preexec_fn under which children obey file modes (None when they already do)."""
    if os.geteuid() != 0:
        return None
    probe = tmp_path / "probe"
    probe.mkdir(mode=0o555)
    try:
        result = subprocess.run(
            [sys.executable, "-c", f"import os, sys; sys.exit(os.access({str(probe)!r}, 2))"],
            preexec_fn=_drop_file_mode_caps, check=False,
        )
    except subprocess.SubprocessError:
        pytest.skip("root without CAP_SETPCAP: cannot drop CAP_DAC_OVERRIDE, modes do not bind")
    if result.returncode != 0:
        pytest.skip("file modes do not bind even without CAP_DAC_OVERRIDE")
    return _drop_file_mode_caps


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NIAH_CACHE_DIR", str(tmp_path / "cache"))
    return write_config(tmp_path, "scripted/perfect", concurrency=1, cache=False)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in files_under(folder)}


def interrupted_run(cfg: Path, out: Path, keep: int) -> None:
    """A run directory as a crash after ``keep`` rows leaves it (lock aside)."""
    assert main(["run", str(cfg), "--out", str(out)]) == 0
    lines = (out / RESULTS_FILE).read_bytes().splitlines(keepends=True)
    (out / RESULTS_FILE).write_bytes(b"".join(lines[:keep]))


def one_line_error(err: str) -> str:
    """The one error line (warnings, e.g. about an offline tokenizer, may precede it)."""
    lines = [x for x in err.splitlines() if x.startswith(("niah: error:", "niah: failed:"))]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def run_child(cfg: Path, out: Path, tmp_path: Path,
              preexec: Callable[[], None] | None) -> tuple[int, str]:
    child = start_niah(["run", str(cfg), "--out", str(out)], niah_env(tmp_path / "cache"),
                       preexec)
    _, err = child.communicate(timeout=60)
    return child.returncode, err


def test_out_under_a_read_only_folder(
    cfg: Path, tmp_path: Path, bound_by_modes: Callable[[], None] | None
) -> None:
    parent = tmp_path / "ro"
    parent.mkdir(mode=READ_ONLY_DIR)
    code, err = run_child(cfg, parent / "run", tmp_path, bound_by_modes)
    assert code == 2
    assert "cannot create directory (Permission denied)" in one_line_error(err)
    assert list(parent.iterdir()) == []


def test_resuming_into_a_read_only_run_directory(
    cfg: Path, tmp_path: Path, bound_by_modes: Callable[[], None] | None
) -> None:
    out = tmp_path / "out"
    interrupted_run(cfg, out, keep=3)
    before = snapshot(out)
    out.chmod(READ_ONLY_DIR)
    try:
        code, err = run_child(cfg, out, tmp_path, bound_by_modes)
    finally:
        out.chmod(0o755)
    assert code == 2 and "directory is not writable" in one_line_error(err)
    assert snapshot(out) == before  # no lock, no manifest session, no row


def test_a_read_only_results_file(
    cfg: Path, tmp_path: Path, bound_by_modes: Callable[[], None] | None
) -> None:
    out = tmp_path / "out"
    interrupted_run(cfg, out, keep=3)
    (out / RESULTS_FILE).chmod(0o444)
    before = snapshot(out)
    code, err = run_child(cfg, out, tmp_path, bound_by_modes)
    assert code == 2 and "results.jsonl is not writable (Permission denied)" in one_line_error(err)
    assert snapshot(out) == before
    (out / RESULTS_FILE).chmod(0o644)
    assert main(["run", str(cfg), "--out", str(out)]) == 0  # writable again: it resumes
    assert len(read_rows(out)) == TRIALS


def test_out_whose_parent_is_a_file(cfg: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    assert main(["run", str(cfg), "--out", str(blocker / "run")]) == 2
    assert "cannot create directory (Not a directory)" in one_line_error(capsys.readouterr().err)
    assert blocker.read_text() == "x"


def test_results_file_that_is_a_folder(cfg: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    (out / RESULTS_FILE).mkdir(parents=True)
    assert main(["run", str(cfg), "--out", str(out)]) == 1
    assert "results.jsonl: cannot read (Is a directory)" in one_line_error(
        capsys.readouterr().err)
    assert not (out / LOCK_FILE).exists() and not (out / MANIFEST_FILE).exists()


class FullDisk:
    """``os.write`` / ``os.fsync`` that hit ENOSPC once ``results`` holds ``rows`` rows.

    ``how``: "mid-row" (half the row gets written first), "at-once" (not a byte),
    "fsync" (the row is written, then the flush to disk fails).
    """

    def __init__(self, results: Path, rows: int, how: str) -> None:
        self.results = str(results.resolve())
        self.rows = rows
        self.how = how
        self.write = os.write
        self.fsync = os.fsync
        self.failures = 0

    def _is_results(self, fd: int) -> bool:
        try:
            return os.readlink(f"/proc/self/fd/{fd}") == self.results
        except OSError:
            return False

    def _full(self) -> OSError:
        self.failures += 1
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def fake_write(self, fd: int, data: bytes) -> int:
        """A disk with room for ``rows`` rows (and half a row more for "mid-row"):
        a write that does not fit is cut short, the next one fails, as a real disk does."""
        if not self._is_results(fd) or self.how == "fsync":
            return self.write(fd, data)
        room = self.rows - count_lines(Path(self.results))
        if room <= 0 and (self.how != "mid-row" or self.failures):
            raise self._full()
        data = bytes(data)
        if data.count(b"\n") <= room:
            return self.write(fd, data)
        cut = 0
        for _ in range(max(room, 0)):
            cut = data.index(b"\n", cut) + 1
        if self.how == "mid-row":  # half of the next row fits too
            self.failures += 1
            cut += (data.index(b"\n", cut) + 1 - cut) // 2
        if cut == 0:
            raise self._full()
        return self.write(fd, data[:cut])

    def fake_fsync(self, fd: int) -> None:
        if self._is_results(fd) and self.how == "fsync" and count_lines(Path(self.results)) \
                > self.rows:
            raise self._full()
        self.fsync(fd)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
@pytest.mark.parametrize("how", ["mid-row", "at-once", "fsync"])
def test_a_full_disk_stops_cleanly_and_keeps_every_finished_row(
    how: str, cfg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    disk = FullDisk(out / RESULTS_FILE, rows=4, how=how)
    with monkeypatch.context() as patch:
        patch.setattr(os, "write", disk.fake_write)
        patch.setattr(os, "fsync", disk.fake_fsync)
        assert main(["run", str(cfg), "--out", str(out)]) == 1
    assert disk.failures >= 1
    err = one_line_error(capsys.readouterr().err)
    assert "results.jsonl: cannot append a row (disk full)" in err
    data = (out / RESULTS_FILE).read_bytes()
    # every row the disk took is whole: at least the four written before it filled up
    # (rows are written in batches, so a batch that still fitted may hold one more)
    assert data.endswith(b"\n") and data.count(b"\n") >= 4
    kept = read_rows(out)
    assert len(kept) == data.count(b"\n") and not (out / LOCK_FILE).exists()
    assert main(["run", str(cfg), "--out", str(out)]) == 0  # space again: it resumes
    rows = read_rows(out)
    assert len(rows) == TRIALS and len({r.trial_id for r in rows}) == TRIALS
    assert rows[: len(kept)] == kept


def test_a_full_disk_while_writing_the_manifest_keeps_the_old_one(
    cfg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    interrupted_run(cfg, out, keep=3)
    before = snapshot(out)
    fsync = os.fsync

    def failing_fsync(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        fsync(fd)

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", failing_fsync)
        assert main(["run", str(cfg), "--out", str(out)]) == 1
    err = one_line_error(capsys.readouterr().err)
    assert "manifest.json: cannot write (No space left on device)" in err
    assert snapshot(out) == before  # old manifest intact, no temp file, no lock
