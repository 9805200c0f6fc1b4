"""Atomic writes: the old file or the new one, never half, and no temp files left behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from niah import atomic
from niah.atomic import write_text
from niah.errors import StoreError
from niah.report.write import figure_bytes, slug


def test_replaces_the_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "summary.csv"
    write_text(target, "old\n")
    write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.csv"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~atomic._UMASK


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "report.html"
    write_text(target, "old")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(StoreError, match=r"report\.html: cannot write"):
        write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_missing_directory_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot write"):
        write_text(tmp_path / "nope" / "x.txt", "x")


def test_figure_formats() -> None:
    fig = Figure(figsize=(1, 1))
    assert figure_bytes(fig, "png").startswith(b"\x89PNG")
    assert figure_bytes(fig, "pdf").startswith(b"%PDF")
    assert b"<svg" in figure_bytes(fig, "svg")
    assert figure_bytes(fig, "svg") == figure_bytes(fig, "svg")  # no timestamps


@pytest.mark.parametrize(
    ("name", "expected"),
    [("openai/gpt-4o", "openai_gpt-4o"), ("../../etc/passwd", "etc_passwd"),
     (".hidden", "hidden"), ("", "model"), ("a b<c>", "a_b_c")],
)
def test_slug_is_a_plain_file_name(name: str, expected: str) -> None:
    assert slug(name) == expected
