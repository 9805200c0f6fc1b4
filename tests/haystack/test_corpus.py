"""The tokenized corpus: offsets, sentence starts, the disk cache and repetition."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from niah.config import HaystackSpec
from niah.haystack.corpus import cache_dir, load_corpus
from niah.haystack.sources import open_source
from niah.tokenizers import load_tokenizer
from tests.haystack.tricky import TrickyBook


@pytest.fixture
def tok():  # type: ignore[no-untyped-def]
    return load_tokenizer("tiktoken:cl100k_base")


def test_offsets_and_ids_match_a_plain_encode(tok) -> None:  # type: ignore[no-untyped-def]
    corpus = load_corpus(open_source(HaystackSpec(kind="generated", seed=3)), tok, 5000)
    text = corpus.data.decode()
    assert corpus.n_tokens >= 5000
    # chunked encoding at paragraph junctions equals encoding the whole text
    assert list(corpus.ids) == tok.encode(text)
    assert corpus.offsets[-1] == len(corpus.data)
    for i in range(0, 3000, 97):
        assert corpus.text(i, i + 1) == tok.decode([int(corpus.ids[i])])


def test_sentence_starts_are_token_starts_after_punctuation(tok) -> None:  # type: ignore[no-untyped-def]
    corpus = load_corpus(open_source(HaystackSpec(kind="generated", seed=1)), tok, 3000)
    assert corpus.bounds[0] == 0 and corpus.bounds[-1] == corpus.n_tokens
    assert np.all(np.diff(corpus.bounds) > 0)
    for k in corpus.bounds[1:200]:
        before = corpus.text(0, int(k)).rstrip()
        assert before[-1] in ".!?\"'", before[-40:]
    # space-led starts (" Next") and paragraph starts are subsets of the sentence starts
    assert set(corpus.space_bounds.tolist()) <= set(corpus.bounds.tolist())
    for k in corpus.space_bounds[:50]:
        assert corpus.text(int(k), int(k) + 1)[0] == " "


def test_cached_on_disk_and_reused(tok) -> None:  # type: ignore[no-untyped-def]
    source = open_source(HaystackSpec(kind="generated", seed=9))
    first = load_corpus(source, tok, 2000)
    files = list((cache_dir() / "corpus").glob("*.npz"))
    assert files, "the corpus was not cached"
    mtimes = {f: f.stat().st_mtime_ns for f in files}
    again = load_corpus(source, tok, 2000)
    assert {f: f.stat().st_mtime_ns for f in files} == mtimes  # read, not rewritten
    assert np.array_equal(first.ids, again.ids) and first.data == again.data


def test_corrupt_cache_file_is_rebuilt(tok) -> None:  # type: ignore[no-untyped-def]
    source = open_source(HaystackSpec(kind="generated", seed=11))
    good = load_corpus(source, tok, 2000)
    for f in (cache_dir() / "corpus").glob("*.npz"):
        f.write_bytes(b"not a zip")
    rebuilt = load_corpus(source, tok, 2000)
    assert np.array_equal(good.ids, rebuilt.ids)


def test_short_folder_is_repeated_exactly(tmp_path: Path, tok) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a.txt").write_text(
        "One short story. It ends here.\n\nA second part follows. Done."
    )
    source = open_source(HaystackSpec(kind="files", path=str(tmp_path)))
    corpus = load_corpus(source, tok, 500)
    assert corpus.n_tokens >= 500 and corpus.repeats > 10
    assert list(corpus.ids) == tok.encode(corpus.data.decode())
    assert corpus.offsets[-1] == len(corpus.data)


def test_files_cache_key_follows_content(tmp_path: Path, tok) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "a.txt"
    f.write_text("Alpha beta gamma. Delta epsilon.")
    first = load_corpus(open_source(HaystackSpec(kind="files", path=str(tmp_path))), tok, 50)
    f.write_text("Something else entirely. Nothing alike.")
    second = load_corpus(open_source(HaystackSpec(kind="files", path=str(tmp_path))), tok, 50)
    assert first.data != second.data
    assert b"something else" in second.lower


def test_every_sentence_start_of_a_tricky_book_is_real(tricky_book: TrickyBook, tok) -> None:  # type: ignore[no-untyped-def]
    corpus = load_corpus(
        open_source(HaystackSpec(kind="files", path=str(tricky_book.folder))), tok, 1000
    )
    assert corpus.repeats == 1
    found = set()
    for k in corpus.bounds[1:-1].tolist():
        at = int(corpus.offsets[k])
        before = corpus.data[max(0, at - 600) : at].decode()
        assert tricky_book.ends_with_sentence(before), before[-80:]
        assert not tricky_book.follows_abbreviation(before), before[-80:]
        found.add(at - (len(before) - len(before.rstrip())))
    # and almost every real end is found (those before "(", quotes and such included)
    assert len(found) >= 0.95 * tricky_book.written


def test_contains_matches_whole_words_as_occurs_in_does(tmp_path: Path, tok) -> None:  # type: ignore[no-untyped-def]
    from niah.needles import occurs_in

    (tmp_path / "a.txt").write_text(
        "Call 555 now. Room 12b has 2,000 cats; x9 and 7 dogs. Café 31é. End 42"
    )
    corpus = load_corpus(open_source(HaystackSpec(kind="files", path=str(tmp_path))), tok, 10)
    keys = ["555", "12", "12b", "2", "000", "9", "x9", "7", "31", "42", "4", "cats", "ca"]
    keys += ["room 12B", "café", "1"]
    found = {k: corpus.contains(k) for k in keys}
    assert found == {k: occurs_in(k, corpus.lower) for k in keys}
    assert [k for k, hit in found.items() if hit] == [
        "555",
        "12b",
        "2",
        "000",
        "x9",
        "7",
        "31",
        "42",
        "cats",
        "room 12B",
        "café",
    ]


def test_word_start_finds_the_nearest_space_led_token(tok) -> None:  # type: ignore[no-untyped-def]
    import random

    corpus = load_corpus(open_source(HaystackSpec(kind="generated", seed=2)), tok, 3000)

    def is_word_start(k: int) -> bool:
        text = corpus.text(k, k + 1)
        return len(text) > 1 and text[0] == " " and not text[1].isspace()

    rng = random.Random(0)
    for _ in range(300):
        a = rng.randrange(0, 2900)
        z = a + rng.choice([1, 3, 40, 400])
        expected = [k for k in range(a, z) if is_word_start(k)]
        assert corpus.word_start(a, z) == (expected[0] if expected else None)
        assert corpus.word_start(a, z, last=True) == (expected[-1] if expected else None)
