"""Haystack sources: files in a fixed order with one-line errors, noise, generated prose."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml

from niah.config import HaystackSpec, load_experiment
from niah.errors import HaystackError
from niah.haystack import prose
from niah.haystack.sources import (
    NOISE_FILLER,
    open_source,
    read_text_file,
    split_paragraphs,
    text_files,
)


def files_spec(folder: Path) -> HaystackSpec:
    return HaystackSpec(kind="files", path=str(folder))


def make_corpus(root: Path) -> Path:
    folder = root / "corpus"
    (folder / "sub").mkdir(parents=True)
    (folder / "b.txt").write_text("Bee one.\n\nBee two.\n")
    (folder / "a.md").write_text("# Title A\n\nAlpha para.\n")
    (folder / "sub" / "c.txt").write_text("Sea one.")
    (folder / "A2.TXT").write_text("Upper case suffix.")
    (folder / "README.md").write_text("How this corpus was made.")
    (folder / "MANIFEST.json").write_text("{}")
    (folder / "notes.rst").write_text("Not a haystack file.")
    (folder / ".hidden.txt").write_text("Hidden.")
    (folder / ".git").mkdir()
    (folder / ".git" / "x.md").write_text("Git internals.")
    return folder


def test_files_are_read_recursively_in_sorted_order(tmp_path: Path) -> None:
    folder = make_corpus(tmp_path)
    assert [p.relative_to(folder).as_posix() for p in text_files(folder)] == [
        "A2.TXT", "a.md", "b.txt", "sub/c.txt"
    ]
    source = open_source(files_spec(folder))
    assert source.files == ["A2.TXT", "a.md", "b.txt", str(Path("sub") / "c.txt")]
    assert list(source.paragraphs()) == [
        "Upper case suffix.", "# Title A", "Alpha para.", "Bee one.", "Bee two.", "Sea one."
    ]
    assert source.finite and "4 files" in source.description


def test_files_key_follows_the_content(tmp_path: Path) -> None:
    folder = make_corpus(tmp_path)
    key = open_source(files_spec(folder)).key
    assert open_source(files_spec(folder)).key == key
    (folder / "README.md").write_text("Edited readme: not haystack, same key.")
    assert open_source(files_spec(folder)).key == key
    (folder / "b.txt").write_text("Bee one.\n\nBee three.\n")
    assert open_source(files_spec(folder)).key != key


def test_relative_path_resolves_against_the_config_folder(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    configs = tmp_path / "configs"
    configs.mkdir()
    make_corpus(configs)
    path = configs / "exp.yaml"
    path.write_text(yaml.safe_dump({
        "name": "s", "model": "scripted/perfect", "haystack": {"kind": "files", "path": "corpus"},
        "needles": [{"text": "N {value}."}],
    }))
    monkeypatch.chdir(tmp_path)  # the working folder holds no corpus/
    exp = load_experiment(path)
    assert len(open_source(exp.haystack, exp).files) == 4


def test_paragraph_splitting(tmp_path: Path) -> None:
    text = "  One\nstill one.\r\n\r\nTwo.\n \t \nThree.\r\rFour.\n\n\n\n"
    assert split_paragraphs(text) == ["One\nstill one.", "Two.", "Three.", "Four."]
    assert split_paragraphs(" \n\n \n") == []
    bom = tmp_path / "bom.txt"
    bom.write_bytes("\ufeffFirst para.\n\nSecond.".encode())
    assert split_paragraphs(read_text_file(bom)) == ["First para.", "Second."]


def one_line_error(spec: HaystackSpec) -> str:
    with pytest.raises(HaystackError) as info:
        open_source(spec)
    message = str(info.value)
    assert "\n" not in message and message.startswith("haystack.path: ")
    return message


def test_missing_folder(tmp_path: Path) -> None:
    message = one_line_error(files_spec(tmp_path / "nope"))
    assert "folder not found" in message and str(tmp_path / "nope") in message


def test_path_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "one.txt").write_text("Text.")
    assert "not a folder" in one_line_error(files_spec(tmp_path / "one.txt"))


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    message = one_line_error(files_spec(tmp_path / "empty"))
    assert "no .txt or .md files" in message and str(tmp_path / "empty") in message


def test_folder_with_only_skipped_files(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "README.md").write_text("Readme.")
    (folder / "data.csv").write_text("a,b")
    assert "no .txt or .md files" in one_line_error(files_spec(folder))


def test_files_holding_only_whitespace(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "a.txt").write_text("\n \n\t\n")
    (folder / "b.md").write_text("")
    assert "hold no text" in one_line_error(files_spec(folder))


def test_binary_file_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "a.txt").write_text("Fine text.")
    (folder / "b.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    message = one_line_error(files_spec(folder))
    assert str(folder / "b.txt") in message and "binary" in message


def test_non_utf8_file_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "a.md").write_bytes("Caf\u00e9 au lait.\n".encode("latin-1"))
    message = one_line_error(files_spec(folder))
    assert str(folder / "a.md") in message and "UTF-8" in message


def test_noise_repeats_the_filler() -> None:
    source = open_source(HaystackSpec(kind="noise"))
    paragraphs = list(source.paragraphs())
    assert paragraphs == [" ".join([NOISE_FILLER] * 4)]
    assert source.finite and source.key.startswith("noise-")
    custom = open_source(HaystackSpec(kind="noise", filler="  Hay   is\n dry.  "))
    assert list(custom.paragraphs()) == [" ".join(["Hay is dry."] * 4)]
    assert custom.key != source.key
    assert open_source(HaystackSpec(kind="noise", filler="Hay is dry.")).key == custom.key


def test_empty_noise_filler_is_an_error() -> None:
    with pytest.raises(HaystackError, match=r"^haystack\.filler: "):
        open_source(HaystackSpec(kind="noise", filler=" \n "))


def test_generated_source_is_the_endless_prose_stream() -> None:
    source = open_source(HaystackSpec(kind="generated", seed=3))
    assert not source.finite
    assert f"v{prose.GENERATOR_VERSION}" in source.key and source.key.endswith("-3")
    assert list(itertools.islice(source.paragraphs(), 50)) == list(
        itertools.islice(prose.paragraphs(3), 50)
    )
    assert open_source(HaystackSpec(kind="generated", seed=4)).key != source.key
