"""The NLL cache: a window scored once is never scored again, in any run directory.

Keyed by sha256 of (the source's identity: GGUF path, size and mtime, or server URL,
model and options; the window; the window's token ids). One ``.npy`` per window under
``$NIAH_CACHE_DIR/nll`` (default ``~/.cache/niah/nll``). The cache is an optimisation:
a file that cannot be read or written is skipped, and said once.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from niah.atomic import atomic_file
from niah.haystack.corpus import cache_dir

log = logging.getLogger("niah")


def window_key(identity: dict[str, Any], ids: Sequence[int]) -> str:
    head = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(head.encode("utf-8") + b"\0")
    digest.update(np.asarray(ids, dtype=np.int64).tobytes())
    return digest.hexdigest()


class NllCache:
    """Per-window NLL arrays on disk; ``enabled=False`` makes every call a no-op."""

    def __init__(self, directory: Path | None = None, *, enabled: bool = True) -> None:
        self.dir = directory or cache_dir() / "nll"
        self.enabled = enabled
        self.hits = 0
        self._warned = False

    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.npy"

    def get(self, key: str, n: int) -> np.ndarray | None:
        if not self.enabled:
            return None
        path = self._path(key)
        try:
            nll: np.ndarray = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            self._warn(f"NLL cache: {path} unreadable ({exc.__class__.__name__}); scoring again")
            return None
        if nll.shape != (n,) or nll.dtype != np.float32:
            return None
        self.hits += 1
        return nll

    def put(self, key: str, nll: np.ndarray) -> None:
        if not self.enabled:
            return
        path = self._path(key)
        buffer = io.BytesIO()
        np.save(buffer, nll.astype(np.float32), allow_pickle=False)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_file(path) as handle:
                handle.write(buffer.getvalue())
        except OSError as exc:
            self._warn(f"NLL cache: cannot write {path.parent} ({exc.strerror}); going on "
                       "without it")

    def _warn(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            log.warning(message)
