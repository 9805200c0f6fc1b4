"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Each file is written to a temporary file in the same directory (so the rename stays
on one filesystem), flushed to disk, then moved over the target with ``os.replace``.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from matplotlib.figure import Figure

from niah.atomic import write_bytes


def figure_bytes(fig: Figure, fmt: str = "png", dpi: int = 150) -> bytes:
    """Render a figure to bytes (``png``, ``svg`` or ``pdf``) with fixed metadata."""
    buffer = io.BytesIO()
    # Fixed metadata keeps re-rendered reports byte-stable where the format allows.
    metadata = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}
    fig.savefig(buffer, format=fmt, dpi=dpi, facecolor="white", metadata=metadata.get(fmt))
    return buffer.getvalue()


def save_figure(fig: Figure, path: str | Path, fmt: str = "png", dpi: int = 150) -> Path:
    return write_bytes(path, figure_bytes(fig, fmt, dpi))


def slug(name: str) -> str:
    """A file-name-safe form of a model id: never a path, never hidden, never empty."""
    text = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")
    return text[:80] or "model"
