"""A prose haystack dense with false sentence ends, whose true sentences are known."""

from __future__ import annotations

import random
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

_ABBREVIATION_BEFORE = re.compile(
    r"(?:(?:\b(?:Mrs?|Ms|Dr|St|Jr|Sr|Prof|Capt|Lt|Col|Gen|Sgt|Esq|vs|etc|cf|vol)"
    r"|(?<![A-Za-z'’])[A-Za-z])\.|\.\.\.|…)[\"'”’)]*\s*$"
)
# text that ends with an abbreviation, an initial ("J.", "e.g.", "p.m.") or an ellipsis

SENTENCES = Path(__file__).parents[1] / "data" / "haystack" / "sentences.txt"


def normalize(text: str) -> str:
    """Whitespace runs as one space: hard wraps and double spaces compare equal."""
    return " ".join(text.split())


@dataclass
class TrickyBook:
    folder: Path
    sentences: list[str]
    """Every sentence of the book, whitespace-normalized."""
    written: int
    """How many sentences the book holds (each written several times)."""

    def ends_with_sentence(self, text: str) -> bool:
        """Whether ``text`` ends exactly where one of the book's sentences ends."""
        tail = normalize(text[-400:])
        return any(
            tail.endswith(s) and (len(tail) == len(s) or tail[-len(s) - 1] == " ")
            for s in self.sentences
        )

    def follows_abbreviation(self, text: str) -> bool:
        """Whether ``text`` ends with an abbreviation, an initial or an ellipsis in a paragraph."""
        return bool(_ABBREVIATION_BEFORE.search(text)) and "\n\n" not in text[-4:]

    def starts_with_sentence(self, text: str) -> bool:
        """Whether ``text`` starts with a whole sentence (or stops inside its first one)."""
        head = normalize(text[:400])
        return any(head.startswith(s) or s.startswith(head) for s in self.sentences)


def make_tricky_book(tmp_path: Path) -> TrickyBook:
    """Shuffled paragraphs of 1-6 sentences, hard-wrapped like Gutenberg text.

    Wrapping puts line breaks after "Mr." and inside "J. K."; sentences are joined by
    one or two spaces, as in older typesetting.
    """
    lines = [ln for ln in SENTENCES.read_text("utf-8").splitlines() if ln and ln[0] != "#"]
    rng = random.Random(0)
    paragraphs = []
    written = 0
    for _ in range(12):
        order = lines[:]
        rng.shuffle(order)
        while order:
            k = rng.randint(1, 6)
            take, order = order[:k], order[k:]
            written += len(take)
            text = "".join(s + rng.choice((" ", "  ")) for s in take).rstrip()
            paragraphs.append(textwrap.fill(text, rng.randint(50, 80), break_on_hyphens=False))
    folder = tmp_path / "tricky"
    folder.mkdir()
    (folder / "book.txt").write_text("\n\n".join(paragraphs), encoding="utf-8")
    return TrickyBook(folder, [normalize(s) for s in lines], written)
