"""Corpora as documents: files, fetched corpora, source trees, Python's own docs."""

from __future__ import annotations

from pathlib import Path

import pytest

from niah.errors import HaystackError, UserError
from niah.nll.config import CorpusSpec, NllConfig
from niah.nll.documents import load_documents


def _load(tmp_path: Path, **corpus: object) -> list[tuple[str, str]]:
    spec = CorpusSpec.model_validate({"name": "c", **corpus})
    config = NllConfig(name="t", model=[{"id": "scripted/x"}],  # type: ignore[list-item]
                       corpora=[spec], base_dir=str(tmp_path))
    return [(d.name, d.text) for d in load_documents(spec, config, "corpora[0]")]


def test_files_are_documents_in_path_order_hidden_and_caches_skipped(tmp_path: Path) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "b.txt").write_text("bee")
    (tmp_path / "d" / "sub" / "a.md").write_text("ay\r\nline")
    (tmp_path / "d" / ".hidden.txt").write_text("no")
    (tmp_path / "d" / "c.json").write_text("no")
    assert _load(tmp_path, kind="files", path="d") == [("b.txt", "bee"),
                                                      ("sub/a.md", "ay\nline")]
    assert _load(tmp_path, kind="files", path="d", suffixes=[".json"]) == [("c.json", "no")]


def test_a_python_package_is_one_document_of_its_sources(tmp_path: Path) -> None:
    [(name, text)] = _load(tmp_path, kind="tree", paths=["python:json"])
    assert name == "python:json"
    assert text.startswith("# __init__.py\n")
    assert "\n\n# decoder.py\n" in text and "\n\n# tool.py\n" in text
    [(_, module)] = _load(tmp_path, kind="tree", paths=["python:argparse"])
    assert "class ArgumentParser" in module  # a module: its one file


def test_python_docs_are_prose_one_topic_each(tmp_path: Path) -> None:
    docs = dict(_load(tmp_path, kind="python-docs"))
    assert len(docs) > 50
    assert "for" in docs["compound"] and "while" in docs["compound"]


def test_a_fetched_corpus_that_is_missing_says_how_to_fetch_it(tmp_path: Path) -> None:
    with pytest.raises(HaystackError, match=r"corpora\[0\].corpus: paul-graham is not fetched "
                       r"into .*: run `niah haystack fetch paul-graham --dest"):
        _load(tmp_path, kind="fetched", corpus="paul-graham", path="haystacks")
    (tmp_path / "haystacks" / "paul-graham").mkdir(parents=True)
    (tmp_path / "haystacks" / "paul-graham" / "avg.txt").write_text("Lisp")
    assert _load(tmp_path, kind="fetched", corpus="paul-graham", path="haystacks") == [
        ("avg.txt", "Lisp")]


def test_unreadable_documents_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "bin.txt").write_bytes(b"a\x00b")
    with pytest.raises(HaystackError, match="is a binary file"):
        _load(tmp_path, kind="files", path="d")
    (tmp_path / "d" / "bin.txt").write_bytes(b"caf\xe9")
    with pytest.raises(HaystackError, match=r"is not UTF-8 \(byte 3\)"):
        _load(tmp_path, kind="files", path="d")
    with pytest.raises(UserError, match="no Python source files"):
        _load(tmp_path, kind="tree", paths=["python:sys"])
