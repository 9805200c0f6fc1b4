"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Each file is written to a temporary file in the same directory (so the rename stays
on one filesystem), flushed to disk, then moved over the target with ``os.replace``.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from pathlib import Path

from matplotlib.figure import Figure

from niah.errors import StoreError

_UMASK = os.umask(0o022)
os.umask(_UMASK)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; the parent directory must exist."""
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise StoreError(f"{target}: cannot write ({exc.strerror or exc})") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; reports are meant to be shared
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise StoreError(f"{target}: cannot write ({exc.strerror or exc})") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def figure_bytes(fig: Figure, fmt: str = "png", dpi: int = 150) -> bytes:
    """Render a figure to bytes (``png``, ``svg`` or ``pdf``) with fixed metadata."""
    buffer = io.BytesIO()
    # Fixed metadata keeps re-rendered reports byte-stable where the format allows.
    metadata = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}
    fig.savefig(buffer, format=fmt, dpi=dpi, facecolor="white", metadata=metadata.get(fmt))
    return buffer.getvalue()


def save_figure(fig: Figure, path: str | Path, fmt: str = "png", dpi: int = 150) -> Path:
    return atomic_write_bytes(path, figure_bytes(fig, fmt, dpi))


def slug(name: str) -> str:
    """A file-name-safe form of a model id: never a path, never hidden, never empty."""
    text = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")
    return text[:80] or "model"
