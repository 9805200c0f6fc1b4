"""A run directory: ``manifest.json``, append-only ``results.jsonl`` and a lock.

Durability rules: the manifest is replaced atomically (temp file, fsync, rename);
each row is appended as one write and fsynced before the next; a failed write is
cut back so the file never keeps half a row; a torn last line left by a crash is
dropped on open (its trial runs again). A lock file holding pid, host and start
time stops two runs from writing one directory; a lock whose process is gone is
recovered.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import platform
import socket
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from niah._version import __version__
from niah.atomic import write_text
from niah.config import Experiment
from niah.errors import LockedError, StoreError, UserError
from niah.layout import RESULTS_ROOT as RESULTS_ROOT
from niah.layout import point_latest
from niah.layout import resolve_run_dir as resolve_run_dir
from niah.plan import experiment_fingerprint
from niah.results import (
    MANIFEST_FILE,
    RESULTS_FILE,
    Manifest,
    ResultRow,
    manifest_text,
    parse_rows,
    read_manifest,
    row_line,
)
from niah.tokenizers import warnings_said

log = logging.getLogger("niah")
LOCK_FILE = ".lock"
_YOUNG_LOCK_S = 5.0
"""An unreadable lock younger than this may be mid-write by its owner: treat as live."""

def utc_now() -> datetime:
    return datetime.now(timezone.utc)

def host_info() -> dict[str, Any]:
    return {"python": sys.version.split()[0], "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "hostname": socket.gethostname()}

def append_whole(fd: int, data: bytes, path: Path) -> None:
    """Append ``data`` and fsync; on failure cut the file back so no half row stays."""
    start = os.lseek(fd, 0, os.SEEK_END)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, start)
        hint = "disk full" if exc.errno == errno.ENOSPC else exc.strerror
        raise StoreError(f"{path}: cannot append a row ({hint})") from exc


_Row = TypeVar("_Row")


def recover_appended(path: Path, parse: Callable[[Path, bytes], tuple[list[_Row], int]]
                     ) -> list[_Row]:
    """The rows of an append-only file, its torn last line (a crash mid-write) cut off so
    the next append starts on a line of its own; ``parse`` gives rows and the good length."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StoreError(f"{path}: cannot read ({exc.strerror})") from exc
    rows, good = parse(path, data)
    if good < len(data):
        try:
            os.truncate(path, good)
        except OSError as exc:
            raise StoreError(f"{path}: cannot drop a torn line ({exc.strerror})") from exc
    return rows


class RunLock:
    """``O_CREAT | O_EXCL`` lock file; stale (dead pid on this host) locks are recovered."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK_FILE
        self.held = False

    def acquire(self) -> None:
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._check_existing()
                continue
            except OSError as exc:
                raise StoreError(f"{self.path}: cannot create lock ({exc.strerror})") from exc
            info = {"pid": os.getpid(), "host": socket.gethostname(),
                    "started": utc_now().isoformat(timespec="seconds")}
            with os.fdopen(fd, "w") as f:
                json.dump(info, f)
            self.held = True
            return
        raise LockedError(f"{self.path}: could not take the lock (another run keeps taking it)")

    def _check_existing(self) -> None:
        """Raise if the lock is live; remove it (and say so) if it is stale."""
        try:
            info = json.loads(self.path.read_text(encoding="utf-8"))
            pid, host = int(info["pid"]), str(info["host"])
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError):
            age = time.time() - self._mtime()
            if age < _YOUNG_LOCK_S:
                raise LockedError(f"{self.path.parent}: locked by a run that is starting") from None
            log.warning("%s: unreadable lock file removed", self.path)
            self.path.unlink(missing_ok=True)
            return
        if host != socket.gethostname():
            raise LockedError(
                f"{self.path.parent}: in use by pid {pid} on {host}; "
                f"if that run is gone, delete {self.path}"
            )
        if _alive(pid):
            raise LockedError(
                f"{self.path.parent}: in use by a running niah (pid {pid}, since "
                f"{info.get('started', '?')}); wait for it, or use --fresh or another --out"
            )
        log.warning("%s: stale lock of dead pid %d recovered", self.path, pid)
        self.path.unlink(missing_ok=True)

    def _mtime(self) -> float:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return 0.0

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False

def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True

def _shard_name(shard: dict[str, int] | None) -> str:
    return f"shard {shard['index']}/{shard['count']}" if shard else "an unsharded run"


class RunStore:
    """An open run directory: the rows so far and a way to append more."""

    def __init__(self, run_dir: Path) -> None:
        self.dir = run_dir
        self.results = run_dir / RESULTS_FILE
        self.lock = RunLock(run_dir)
        self._done: dict[str, set[str]] = {}
        """Trial ids stored per model (ids only: rows can be large, runs long)."""
        self._scored: dict[str, int] = {}
        """Rows per model that got a score (not an API or answer error)."""
        self._fd: int | None = None
        self._write_lock = threading.Lock()
        self._queue: list[tuple[ResultRow, bytes]] = []
        self._flusher: asyncio.Future[None] | None = None
        self._error: StoreError | None = None

    @classmethod
    def open(cls, run_dir: Path, experiment: Experiment, models: list[dict[str, Any]],
             *, fresh: bool = False, shard: dict[str, int] | None = None) -> RunStore:
        """Create or resume ``run_dir``: take the lock, recover a torn tail, write the
        manifest. ``fresh`` refuses a directory that already holds results."""
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"--out {run_dir}: cannot create directory ({exc.strerror})") from None
        if not os.access(run_dir, os.W_OK):
            raise UserError(f"--out {run_dir}: directory is not writable")
        store = cls(run_dir)
        store.lock.acquire()
        try:
            old = read_manifest(run_dir)
            fingerprint = experiment_fingerprint(experiment)
            if old is not None and old.fingerprint != fingerprint:
                raise UserError(f"{run_dir}: holds a run of a different experiment (its prompts "
                                "differ); use another --out or --fresh")
            if old is not None and old.shard != shard:
                raise UserError(f"{run_dir}: holds {_shard_name(old.shard)}, not "
                                f"{_shard_name(shard)}; use another --out")
            if fresh and store.results.exists() and store.results.stat().st_size:
                raise UserError(f"{run_dir}: already holds results; --fresh needs a new directory")
            store._recover()
            store._fd = store._open_results()  # before the manifest: no phantom session
            store._write_manifest(old, experiment, fingerprint, models, shard)
            point_latest(run_dir)
        except BaseException:
            store.close()
            raise
        return store

    def _recover(self) -> None:
        rows = recover_appended(
            self.results, lambda path, data: parse_rows(path, data, "dropped, its trial will "
                                                        "run again"))
        for row in rows:
            self._stored(row)

    def _open_results(self) -> int:
        try:
            return os.open(self.results, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise UserError(
                    f"--out {self.dir}: {RESULTS_FILE} is not writable ({exc.strerror})"
                ) from None
            raise StoreError(f"{self.results}: cannot open for appending ({exc.strerror})") from exc

    def _write_manifest(self, old: Manifest | None, experiment: Experiment,
                        fingerprint: str, models: list[dict[str, Any]],
                        shard: dict[str, int] | None) -> None:
        now = utc_now().isoformat(timespec="seconds")
        sessions = list(old.sessions) if old else []
        sessions.append({"started_at": now, "niah_version": __version__,
                         "models": [m["id"] for m in models], "pid": os.getpid()})
        manifest = Manifest(
            niah_version=__version__, experiment=experiment.name, fingerprint=fingerprint,
            started_at=old.started_at if old else now,
            config=experiment.model_dump(mode="json"),
            config_dir=str(Path(experiment.base_dir).resolve()), models=models, host=host_info(),
            sessions=sessions, warnings=warnings_said(),
            rescored=old.rescored if old else [], shard=shard,
        )
        write_text(self.dir / MANIFEST_FILE, manifest_text(manifest))

    def done(self, model: str) -> set[str]:
        """Trial ids already stored for ``model`` (skipped on resume)."""
        return set(self._done.get(model, ()))

    def count(self, model: str) -> int:
        return len(self._done.get(model, ()))

    def scored(self, model: str) -> int:
        return self._scored.get(model, 0)

    def _stored(self, row: ResultRow) -> None:
        self._done.setdefault(row.model, set()).add(row.trial_id)
        if row.score is not None and row.error is None:
            self._scored[row.model] = self._scored.get(row.model, 0) + 1

    def append(self, row: ResultRow) -> None:
        """One row, one write, fsynced; on failure the file is cut back to its old end."""
        self._write([row_line(row)])
        self._stored(row)

    def append_soon(self, row: ResultRow) -> None:
        """Queue a row for a background writer (event-loop code); ``drain`` waits for it.

        The writer appends every queued row in one write and one fsync, off the event
        loop, so an fsync never stalls the requests in flight. A row is durable a few
        milliseconds after its trial finishes; one lost in a crash in between is simply
        run again on resume. A write failure is raised by the next call, or by ``drain``.
        """
        if self._error is not None:
            raise self._error
        self._queue.append((row, row_line(row)))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush())

    async def drain(self) -> None:
        """Wait until every queued row is on disk (also when the caller is cancelled)."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)
        if self._error is not None:
            raise self._error

    async def _flush(self) -> None:
        while self._queue and self._error is None:
            batch, self._queue = self._queue, []
            written, error = await asyncio.to_thread(self._write_batch, [d for _, d in batch])
            for row, _ in batch[:written]:
                self._stored(row)
            if error is not None:
                self._error = error
                return

    def _write_batch(self, chunks: list[bytes]) -> tuple[int, StoreError | None]:
        """Rows written (all, or as many as fit one by one after a failure) and the error."""
        try:
            self._write(chunks)
            return len(chunks), None
        except StoreError as exc:
            if len(chunks) == 1:
                return 0, exc
        for i, chunk in enumerate(chunks):  # keep every row the disk still takes
            try:
                self._write([chunk])
            except StoreError as exc:
                return i, exc
        return len(chunks), None

    def _write(self, chunks: list[bytes]) -> None:
        with self._write_lock:
            if self._fd is None:
                raise StoreError(f"{self.results}: store is closed")
            append_whole(self._fd, b"".join(chunks), self.results)

    def close(self) -> None:
        with self._write_lock:  # never under a write still running in a flush thread
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
        self.lock.release()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
