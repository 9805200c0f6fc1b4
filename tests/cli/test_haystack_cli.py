"""``niah haystack fetch|list`` through ``niah.cli.main``: output and exit codes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from niah.cli import main as cli_main
from niah.haystack import fetch as fetch_module
from niah.haystack.fetch import BASE_URL_ENV
from tests.haystack.test_fetch import BOOK_TEXT, FileServer, fake_files


@pytest.fixture(autouse=True)
def only_haystack_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """Build the parser from this command alone, so other commands' modules don't matter."""
    monkeypatch.setattr(cli_main, "COMMANDS", ("haystack",))
    monkeypatch.setattr(fetch_module, "_sleep", lambda seconds: None)
    monkeypatch.delenv("NIAH_DEBUG", raising=False)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FileServer]:
    with FileServer(fake_files()) as srv:
        monkeypatch.setenv(BASE_URL_ENV, srv.base_url)
        yield srv


def test_fetch_into_default_folder_then_cached(
    server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli_main.main(["haystack", "fetch", "gutenberg:84"]) == 0
    out, err = capsys.readouterr()
    assert (tmp_path / "haystacks" / "gutenberg-84" / "pg84.txt").read_text() == BOOK_TEXT
    assert "haystacks/gutenberg-84: 1 files (1 downloaded, 0 already there" in out
    assert f"{{kind: files, path: {tmp_path.resolve()}/haystacks/gutenberg-84}}" in out
    assert "downloaded pg84.txt" in err

    assert cli_main.main(["haystack", "fetch", "gutenberg:84"]) == 0
    assert "(0 downloaded, 1 already there and verified)" in capsys.readouterr().out
    assert sum(server.requests.values()) == 1

    assert cli_main.main(["haystack", "fetch", "gutenberg:84", "--force"]) == 0
    assert sum(server.requests.values()) == 2


def test_fetch_with_dest_and_list(
    server: FileServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = str(tmp_path / "corpora")
    assert cli_main.main(["haystack", "list", "--dest", dest]) == 0
    assert "paul-graham   not fetched" in capsys.readouterr().out
    assert cli_main.main(["haystack", "fetch", "paul-graham", "--dest", dest]) == 0
    assert cli_main.main(["haystack", "fetch", "gutenberg:84", "--dest", dest]) == 0
    capsys.readouterr()
    assert cli_main.main(["haystack", "list", "--dest", dest]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["paul-graham", "complete"], ["gutenberg:ID", "any"], ["gutenberg:84", "complete"],
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["haystack", "fetch", "wikipedia"], "unknown corpus 'wikipedia': known corpora are "),
        (["haystack", "fetch", "gutenberg:999"], "/cache/epub/999/pg999.txt: HTTP 404"),
    ],
)
def test_bad_fetch_exits_2_with_one_line(
    server: FileServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    argv: list[str], message: str,
) -> None:
    assert cli_main.main([*argv, "--dest", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("niah: error: ") and message in err
    assert err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_missing_subcommand_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli_main.main(["haystack"])
    assert info.value.code == 2
    assert "fetch,list" in capsys.readouterr().err
