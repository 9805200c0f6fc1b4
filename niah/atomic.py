"""Whole-or-nothing file writes: a temporary file in the same folder, fsync, rename.

Every file niah rewrites (manifests, reports, fetched corpora, built prompts, corpus
caches) goes through here, so a crash or a full disk never leaves a torn file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from niah.errors import NiahError, StoreError

_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[IO[bytes]]:
    """Yield a binary handle; ``path`` appears, complete, only if the block succeeds.

    Raises ``OSError`` as is: callers name the error for their own context.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are meant to be shared
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(
    path: str | Path, data: bytes, *, error: type[NiahError] = StoreError
) -> Path:
    """Write ``data`` atomically; an OS failure becomes ``error`` with a one-line message."""
    target = Path(path)
    try:
        with atomic_file(target) as handle:
            handle.write(data)
    except OSError as exc:
        raise error(f"{target}: cannot write ({exc.strerror or exc})") from exc
    return target


def write_text(path: str | Path, text: str, *, error: type[NiahError] = StoreError) -> Path:
    return write_bytes(path, text.encode("utf-8"), error=error)
