"""Haystack sources: where the text comes from, as a stream of paragraphs.

Every source yields paragraphs that start with a non-space character; the corpus
joins them with a blank line. That junction tokenizes the same inside a long text
as on its own, so the corpus can be tokenized in chunks, and repeated, exactly.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from niah.config import Experiment, HaystackSpec
from niah.errors import HaystackError
from niah.haystack import prose

NOISE_FILLER = (
    "The grass is green. The sky is blue. The sun is yellow. Here we go. "
    "There and back again."
)
"""RULER's filler text (repeated without end)."""

TEXT_SUFFIXES = (".txt", ".md")
_PARA_SPLIT = re.compile(r"\n[ \t]*\n\s*")


@dataclass
class Source:
    """A described stream of paragraphs."""

    key: str
    """Identifies the content: equal keys give equal paragraphs (the cache key)."""
    description: str
    finite: bool
    """Finite sources are repeated when shorter than the longest context."""
    _paragraphs: list[str] | None = None
    _seed: int = 0
    files: list[str] = field(default_factory=list)

    def paragraphs(self) -> Iterator[str]:
        if self._paragraphs is not None:
            return iter(self._paragraphs)
        return prose.paragraphs(self._seed)


def _noise_paragraphs(filler: str) -> Iterator[str]:
    while True:
        yield " ".join([filler] * 4)


def split_paragraphs(text: str) -> list[str]:
    """Non-empty paragraphs with surrounding whitespace removed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [p.strip() for p in _PARA_SPLIT.split(text) if p.strip()]


def read_text_file(path: Path, where: str = "haystack.path") -> str:
    """A UTF-8 text file, or a one-line error naming it (and ``where`` it was configured)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise HaystackError(f"{where}: cannot read {path}: {exc.strerror}") from None
    if b"\x00" in data[:8192]:
        raise HaystackError(f"{where}: {path} is a binary file, not text")
    try:
        return data.decode("utf-8-sig")  # a byte-order mark is no haystack text
    except UnicodeDecodeError as exc:
        raise HaystackError(
            f"{where}: {path} is not UTF-8 (byte {exc.start}); convert it to UTF-8"
        ) from None


def text_files(folder: Path) -> list[Path]:
    """The folder's .txt/.md files in sorted path order (recursively, hidden ones skipped)."""
    if not folder.exists():
        raise HaystackError(f"haystack.path: folder not found: {folder}{_fetch_hint(folder)}")
    if not folder.is_dir():
        raise HaystackError(f"haystack.path: not a folder: {folder}")
    files = sorted(
        p for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and p.name not in ("README.md", "MANIFEST.json")
    )
    if not files:
        raise HaystackError(f"haystack.path: no .txt or .md files in {folder}")
    return files


def _fetch_hint(folder: Path) -> str:
    """``; fetch it with: niah haystack fetch paul-graham`` for a well-known corpus's folder."""
    from niah.errors import UserError
    from niah.haystack.fetch import resolve

    try:
        corpus = resolve(folder.name)
    except UserError:
        return ""
    if corpus.folder != folder.name:
        return ""
    dest = os.path.normpath(folder.parent)
    where = "" if dest == "haystacks" else f" --dest {dest}"
    return f"; fetch it with: niah haystack fetch {corpus.name}{where}"


def open_source(spec: HaystackSpec, experiment: Experiment | None = None) -> Source:
    """The paragraph stream a haystack spec describes."""
    if spec.kind == "generated":
        return Source(
            key=f"generated-v{prose.GENERATOR_VERSION}-{spec.seed}",
            description=f"generated prose (seed {spec.seed})",
            finite=False,
            _seed=spec.seed,
        )
    if spec.kind == "noise":
        filler = " ".join((spec.filler or NOISE_FILLER).split())
        if not filler:
            raise HaystackError("haystack.filler: is empty")
        key = "noise-" + hashlib.sha256(filler.encode()).hexdigest()[:16]
        noise = list(_first(_noise_paragraphs(filler), 1))
        return Source(key=key, description="noise filler", finite=True, _paragraphs=noise)
    assert spec.path is not None
    folder = experiment.resolve_path(spec.path) if experiment else Path(spec.path)
    digest = hashlib.sha256()
    paras: list[str] = []
    names: list[str] = []
    for path in text_files(folder):
        text = read_text_file(path)
        digest.update(path.name.encode() + b"\0" + text.encode() + b"\0")
        found = split_paragraphs(text)
        paras.extend(found)
        names.append(str(path.relative_to(folder)))
    if not paras:
        raise HaystackError(f"haystack.path: the files in {folder} hold no text")
    return Source(
        key="files-" + digest.hexdigest()[:24],
        description=f"{len(names)} file{'' if len(names) == 1 else 's'} from {folder}",
        finite=True,
        _paragraphs=paras,
        files=names,
    )


def _first(it: Iterator[str], n: int) -> Iterator[str]:
    for i, item in enumerate(it):
        if i >= n:
            return
        yield item
