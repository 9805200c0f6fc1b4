"""An open NLL run directory: lock, manifest, append-only rows, arrays.

The durability rules of ``niah.store`` apply: the manifest is replaced atomically, a
document's arrays are written whole before its row, each row is one fsynced append
(cut back if the write fails), a torn last row is dropped on open, and the lock of
``niah.store`` keeps two runs out of one directory.
"""

from __future__ import annotations

import contextlib
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from niah._version import __version__
from niah.atomic import write_text
from niah.errors import StoreError, UserError
from niah.nll.config import NllConfig
from niah.nll.results import (
    DOCUMENTS_FILE,
    MANIFEST_FILE,
    DocumentRow,
    NllManifest,
    arrays_name,
    is_nll_run,
    manifest_text,
    parse_rows,
    read_nll_manifest,
    row_line,
    save_arrays,
)
from niah.store import RunLock, append_whole, host_info, recover_appended

RESULTS_ROOT = Path("results")

DocKey = tuple[str, str, str, str]
"""(model, corpus, document, sha256): what a resume compares."""


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def resolve_run_dir(config: NllConfig, out: str | Path | None, fresh: bool,
                    root: Path = RESULTS_ROOT) -> Path:
    """``out`` as given, else the latest NLL run of this config under ``root/<name>`` when
    its fingerprint matches (resumed), else a new ``root/<name>/<UTC time>``."""
    if out is not None:
        return Path(out).expanduser()
    parent = root / config.name
    if not fresh and parent.is_dir():
        runs = sorted((p for p in parent.iterdir() if is_nll_run(p)), key=lambda p: p.name)
        if runs:
            with contextlib.suppress(UserError):
                manifest = read_nll_manifest(runs[-1])
                if manifest is not None and manifest.fingerprint == config.fingerprint():
                    return runs[-1]
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    candidate, n = parent / stamp, 1
    while candidate.exists():
        candidate, n = parent / f"{stamp}-{n:03d}", n + 1
    return candidate


class NllStore:
    """Rows so far, and a way to add a document's arrays and row."""

    def __init__(self, run_dir: Path, dtype: str, token_ids: bool) -> None:
        self.dir = run_dir
        self.rows_path = run_dir / DOCUMENTS_FILE
        self.lock = RunLock(run_dir)
        self.dtype = dtype
        self.token_ids = token_ids
        self.done: set[DocKey] = set()
        self._fd: int | None = None

    @classmethod
    def open(cls, run_dir: Path, config: NllConfig, models: list[dict[str, Any]],
             corpora: list[dict[str, Any]], warnings: list[str], *,
             fresh: bool = False) -> NllStore:
        """Create or resume ``run_dir`` (same fingerprint only) and write its manifest."""
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"--out {run_dir}: cannot create directory ({exc.strerror})") from None
        if (run_dir / MANIFEST_FILE).exists() and not is_nll_run(run_dir):
            raise UserError(f"--out {run_dir}: holds a run that is not an NLL run")
        store = cls(run_dir, config.store.dtype, config.store.token_ids)
        store.lock.acquire()
        try:
            old = read_nll_manifest(run_dir)
            if old is not None and old.fingerprint != config.fingerprint():
                raise UserError(f"{run_dir}: holds an NLL run of a different config (models, "
                                "corpora or windows differ); use another --out or --fresh")
            if fresh and store.rows_path.exists() and store.rows_path.stat().st_size:
                raise UserError(f"{run_dir}: already holds results; --fresh needs a new directory")
            store._recover()
            store._fd = os.open(store.rows_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            now = utc_now()
            sessions = [*(old.sessions if old else []),
                        {"started_at": now, "niah_version": __version__, "pid": os.getpid()}]
            manifest = NllManifest(
                niah_version=__version__, name=config.name, description=config.description,
                fingerprint=config.fingerprint(), started_at=old.started_at if old else now,
                config=config.model_dump(mode="json"),
                config_dir=str(Path(config.base_dir).resolve()), models=models,
                corpora=corpora, host=host_info(), sessions=sessions, warnings=warnings,
            )
            write_text(run_dir / MANIFEST_FILE, manifest_text(manifest))
        except BaseException:
            store.close()
            raise
        return store

    def _recover(self) -> None:
        for row in recover_appended(self.rows_path, parse_rows):
            if row.error is None:
                self.done.add((row.model, row.corpus, row.document, row.sha256))

    def add(self, row: DocumentRow, nll: np.ndarray | None, ids: np.ndarray | None
            ) -> DocumentRow:
        """Store a document: its arrays (whole), then its row (one fsynced append)."""
        if nll is not None:
            name = arrays_name(row.model, row.corpus, row.index)
            save_arrays(self.dir / name, nll, ids if self.token_ids else None, self.dtype)
            row = row.model_copy(update={"arrays": name})
        self._append(row_line(row))
        if row.error is None:
            self.done.add((row.model, row.corpus, row.document, row.sha256))
        return row

    def _append(self, line: bytes) -> None:
        if self._fd is None:
            raise StoreError(f"{self.rows_path}: store is closed")
        append_whole(self._fd, line, self.rows_path)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.lock.release()

    def __enter__(self) -> NllStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
