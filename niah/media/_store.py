"""Content-addressed cache files of the media sources: written whole or not at all.

No fsync (unlike ``niah.atomic``): a cache entry lost in a crash is recomputed, and a
day of synthesized speech is tens of thousands of entries.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def key(*parts: object) -> str:
    """A sha256 hex key of ``parts`` (their ``str``, NUL-separated)."""
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()


def entry(root: Path, kind: str, digest: str, suffix: str) -> Path:
    """Where a cache entry lives: ``root/kind/ab/abcdef....suffix``."""
    return root / kind / digest[:2] / f"{digest}{suffix}"


def put(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
