"""The NLL run format, in one place: manifest, document rows, per-token arrays.

An NLL run directory holds:

- ``manifest.json``: an ``NllManifest`` whose ``kind`` is ``"nll"`` (how ``niah
  report`` tells it from a needle run), with the config, models and sessions.
- ``documents.jsonl``: one ``DocumentRow`` per scored (or failed) document, appended
  whole and fsynced. A torn last line (a crash mid-write) is dropped on read, and its
  document is scored again; a bad line before it is damage niah never makes: an error.
- ``arrays/<model>/<corpus>/<index>.npz``: per document, ``nll`` (nats, one value per
  token; NaN for each window's first token, which has no context) and, if stored,
  ``token_ids``. Written whole (temporary file, rename) before its row is appended.

A token's position is its 1-based index inside its window: with window ``W``, token
``j`` of a document (0-based) sits at position ``j % W + 1``.
"""

from __future__ import annotations

import io
import json
import re
from hashlib import sha256
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from niah.atomic import atomic_file
from niah.errors import ResultsError, StoreError, UserError
from niah.results import parse_lines

SCHEMA_VERSION = 1
KIND: Literal["nll"] = "nll"
MANIFEST_FILE = "manifest.json"
DOCUMENTS_FILE = "documents.jsonl"
ARRAYS_DIR = "arrays"


class ErrorInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str
    """``transient`` (retries exhausted), ``permanent`` or a finer provider kind."""
    message: str


class DocumentRow(BaseModel):
    """One document scored by one model (or the error that stopped it)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    model: str
    corpus: str
    index: int
    """Order of the document in its corpus (as used, after skipping short ones)."""
    document: str
    """The document's name: a relative path, a package, a topic."""
    sha256: str
    """Of the document's text, so a changed file is scored again."""
    document_tokens: int | None = None
    """Tokens of the whole document in the model's tokenizer; None when only its start
    was tokenized (it is longer than what was scored)."""
    tokens: int
    """Tokens scored from its start (at most ``max_document_tokens``)."""
    window: int
    windows: int
    scored: int = 0
    """Tokens that have an NLL (all but each window's first)."""
    mean_nll: float | None = None
    arrays: str | None = None
    """Path of the ``.npz`` relative to the run directory; None for an error row."""
    cached: bool = False
    """True when the arrays came from niah's NLL cache (nothing was computed)."""
    seconds: float | None = None
    """Time spent scoring (not loading the model)."""
    error: ErrorInfo | None = None
    niah_version: str
    timestamp: str


class NllManifest(BaseModel):
    """``manifest.json`` of an NLL run."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["nll"] = KIND
    schema_version: int = SCHEMA_VERSION
    niah_version: str
    name: str
    description: str = ""
    fingerprint: str
    """Hash of what shapes the numbers; a resume must match it."""
    started_at: str
    config: dict[str, Any] = Field(default_factory=dict)
    config_dir: str | None = None
    models: list[dict[str, Any]] = Field(default_factory=list)
    """Per model: id, source facts (alignment check, GGUF, window), tokenizer."""
    corpora: list[dict[str, Any]] = Field(default_factory=list)
    """Per corpus: kind, documents used and skipped."""
    host: dict[str, Any] = Field(default_factory=dict)
    sessions: list[dict[str, Any]] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


def manifest_text(manifest: NllManifest) -> str:
    return json.dumps(manifest.model_dump(mode="json", exclude_none=True), indent=2) + "\n"


def row_line(row: DocumentRow) -> bytes:
    return (row.model_dump_json(exclude_none=True) + "\n").encode("utf-8")


def is_nll_run(path: str | Path) -> bool:
    """Whether ``path`` is an NLL run directory (its manifest says ``kind: nll``)."""
    try:
        data = json.loads((Path(path) / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("kind") == KIND


def read_nll_manifest(run_dir: str | Path) -> NllManifest | None:
    """The manifest, or None when absent; a damaged one is an error naming the file."""
    path = Path(run_dir) / MANIFEST_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ResultsError(f"{path}: cannot read ({exc.__class__.__name__})") from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise ResultsError(f"{path}: not the manifest of an NLL run (no kind: nll)")
    try:
        return NllManifest.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise ResultsError(f"{path}: {where}: {err['msg']}") from None


def parse_rows(path: Path, data: bytes) -> tuple[list[DocumentRow], int]:
    """The rows of ``data`` and the byte length of its good part, by the policy of
    ``niah.results.parse_lines`` (a torn last line dropped, damage before it an error)."""
    return parse_lines(path, data, _document_row, "document row", "dropped")


def _document_row(line: bytes) -> DocumentRow:
    return DocumentRow.model_validate(json.loads(line))


def read_rows(run_dir: str | Path) -> list[DocumentRow]:
    """Every document row of a run directory."""
    path = Path(run_dir) / DOCUMENTS_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ResultsError(f"{path}: cannot read ({exc.strerror})") from None
    return parse_rows(path, data)[0]


def latest_rows(rows: list[DocumentRow]) -> list[DocumentRow]:
    """The last row of each (model, corpus, document, sha256): a retried document's
    success replaces its earlier error."""
    found: dict[tuple[str, str, str, str], DocumentRow] = {}
    for row in rows:
        found[(row.model, row.corpus, row.document, row.sha256)] = row
    return list(found.values())


def slug(text: str) -> str:
    """A file-name-safe name, with a short hash when characters had to be replaced."""
    clean = re.sub(r"[^A-Za-z0-9_.\-]+", "-", text).strip("-.") or "x"
    if clean != text:
        clean = f"{clean[:60]}-{sha256(text.encode('utf-8')).hexdigest()[:8]}"
    return clean


def arrays_name(model: str, corpus: str, index: int) -> str:
    return f"{ARRAYS_DIR}/{slug(model)}/{slug(corpus)}/{index:05d}.npz"


def save_arrays(
    path: Path, nll: np.ndarray, token_ids: np.ndarray | None, dtype: str = "float32"
) -> None:
    """Write one document's arrays atomically (compressed ``.npz``)."""
    arrays: dict[str, np.ndarray] = {"nll": nll.astype(dtype)}
    if token_ids is not None:
        arrays["token_ids"] = token_ids.astype(np.int32)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as handle:
            handle.write(buffer.getvalue())
    except OSError as exc:
        raise StoreError(f"{path}: cannot write ({exc.strerror or exc})") from exc


def load_nll(run_dir: str | Path, row: DocumentRow) -> np.ndarray:
    """The per-token NLL of a stored document, as float64."""
    if row.arrays is None:
        raise UserError(f"{run_dir}: {row.document} has no arrays (it failed)")
    path = Path(run_dir) / row.arrays
    try:
        with np.load(path) as data:
            nll = np.asarray(data["nll"], dtype=np.float64)
    except (OSError, KeyError, ValueError) as exc:
        raise ResultsError(f"{path}: cannot read ({exc.__class__.__name__})") from None
    if nll.shape != (row.tokens,):
        raise ResultsError(f"{path}: holds {nll.size} values, its row says {row.tokens}")
    return nll
