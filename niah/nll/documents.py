"""The documents of a corpus, as text: files, a fetched corpus, source trees, Python's docs.

Two corpora that every machine with Python has make prose and code easy to compare
offline: ``python-docs`` (the reference documentation bundled as ``pydoc_data``, one
document per topic) and ``tree`` entries such as ``python:asyncio`` (a standard library
package read as one document, its files in path order, each after a ``# path`` line).
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from niah.errors import HaystackError, UserError
from niah.haystack.sources import read_text_file
from niah.nll.config import CorpusSpec, NllConfig

_SKIPPED_DIRS = {"__pycache__"}


@dataclass(frozen=True)
class Document:
    """One document of a corpus."""

    corpus: str
    name: str
    """Its name in the corpus: a relative path, a package, a topic."""
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def load_documents(spec: CorpusSpec, config: NllConfig, where: str) -> list[Document]:
    """Every document of ``spec`` in name order; ``where`` (``corpora[0]``) names errors."""
    if spec.kind == "python-docs":
        docs = _python_docs(spec, where)
    elif spec.kind == "tree":
        docs = [_tree(spec, config, entry, f"{where}.paths[{i}]") for i, entry in
                enumerate(spec.paths)]
    else:
        folder = _files_folder(spec, config, where)
        docs = [
            Document(spec.name, str(path.relative_to(folder)), _read(path, f"{where}.path"))
            for path in _files(folder, spec.file_suffixes(), f"{where}.path")
        ]
    for doc in docs:
        if not doc.text.strip():
            raise HaystackError(f"{where}: document {doc.name} is empty")
    return docs


def _files_folder(spec: CorpusSpec, config: NllConfig, where: str) -> Path:
    if spec.kind == "files":
        assert spec.path is not None
        return config.resolve_path(spec.path)
    from niah.haystack.fetch import resolve

    assert spec.corpus is not None
    remote = resolve(spec.corpus)
    root = config.resolve_path(spec.path) if spec.path else Path("haystacks")
    folder = root / remote.folder
    if not folder.is_dir():
        raise HaystackError(
            f"{where}.corpus: {spec.corpus} is not fetched into {root}: run "
            f"`niah haystack fetch {spec.corpus} --dest {root}` first"
        )
    return folder


def _files(folder: Path, suffixes: tuple[str, ...], where: str) -> list[Path]:
    """Files of ``folder`` ending in ``suffixes``, sorted; hidden ones and caches skipped."""
    if not folder.exists():
        raise HaystackError(f"{where}: folder not found: {folder}")
    if not folder.is_dir():
        raise HaystackError(f"{where}: not a folder: {folder}")
    files = sorted(
        p for p in folder.rglob("*")
        if p.is_file() and p.name.lower().endswith(suffixes)
        and not any(part.startswith(".") or part in _SKIPPED_DIRS
                    for part in p.relative_to(folder).parts)
    )
    if not files:
        raise HaystackError(f"{where}: no {'/'.join(suffixes)} files in {folder}")
    return files


def _read(path: Path, where: str) -> str:
    return read_text_file(path, where).replace("\r\n", "\n")


def _tree(spec: CorpusSpec, config: NllConfig, entry: str, where: str) -> Document:
    """One folder (or Python package or module) as one document."""
    if entry.startswith("python:"):
        root = _python_package(entry.removeprefix("python:"), where)
    else:
        root = config.resolve_path(entry)
    if root.is_file():
        return Document(spec.name, entry, _read(root, where))
    files = _files(root, spec.file_suffixes(), where)
    parts = [f"# {path.relative_to(root).as_posix()}\n{_read(path, where)}" for path in files]
    return Document(spec.name, entry, "\n\n".join(parts))


def _python_package(name: str, where: str) -> Path:
    """The folder of an importable package (or the file of a module), found, not imported."""
    try:
        found = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        found = None
    if found is None:
        raise UserError(f"{where}: no Python package or module named {name!r} here")
    if found.submodule_search_locations:
        return Path(next(iter(found.submodule_search_locations)))
    if found.origin and found.origin.endswith(".py"):
        return Path(found.origin)
    raise UserError(f"{where}: python:{name} has no Python source files (a built-in module)")


def _python_docs(spec: CorpusSpec, where: str) -> list[Document]:
    try:
        from pydoc_data.topics import topics
    except ImportError:
        raise HaystackError(
            f"{where}: this Python has no pydoc_data (its distribution left the docs out)"
        ) from None
    return [Document(spec.name, name, topics[name]) for name in sorted(topics)]
