"""Sentence ends: none after abbreviations, initials, decimals or inside ellipses."""

from __future__ import annotations

import itertools

import pytest

from niah.haystack.sentences import sentence_ends


def _sentences(text: str) -> list[str]:
    """``text`` cut at every sentence end found."""
    data = text.encode()
    stops, starts = sentence_ends(data)
    cuts = [0, *sorted({*stops.tolist(), *starts.tolist()}), len(data)]
    pieces = [data[a:z].decode().strip() for a, z in itertools.pairwise(cuts)]
    return [p for p in pieces if p]


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        (
            "Sixteen years in Mr. Woodhouse's family. Then\nMrs. Weston came.\n\n",
            ["Sixteen years in Mr. Woodhouse's family.", "Then\nMrs. Weston came."],
        ),
        (
            "Dr. J. K. Smith walked 3.5 miles. It rained.",
            ["Dr. J. K. Smith walked 3.5 miles.", "It rained."],
        ),
        (
            "Apples, pears, etc. and plums, e.g. this one. At 5 p.m. the bell, i.e. Big Ben, rang.",
            [
                "Apples, pears, etc. and plums, e.g. this one.",
                "At 5 p.m. the bell, i.e. Big Ben, rang.",
            ],
        ),
        ("He waited... and waited… on. Done.", ["He waited... and waited… on.", "Done."]),
        ('"Oh!" said she. "Stop!" He ran.', ['"Oh!" said she.', '"Stop!"', "He ran."]),
        (
            "(It was late.) “Go,” he said. ‘No.’ Fine?! Yes.",
            ["(It was late.)", "“Go,” he said.", "‘No.’", "Fine?!", "Yes."],
        ),
        (
            "See vol. 2 and No. 5 of Vol. III today. MR. KNIGHTLEY came.",
            ["See vol. 2 and No. 5 of Vol. III today.", "MR. KNIGHTLEY came."],
        ),
        (
            "Items:\n1. The first.\n2. The second. End.",
            # a digit does not start a sentence ("No. 5", list numbers)
            ["Items:\n1. The first.\n2. The second.", "End."],
        ),
        (
            "Il partit. Émile resta. É. Zola écrivit.",
            ["Il partit.", "Émile resta.", "É. Zola écrivit."],
        ),
        ("no stop here", ["no stop here"]),
        ("A _Mrs._ _Elton_ came. Mr. Elton too.", ["A _Mrs._ _Elton_ came.", "Mr. Elton too."]),
        # a paragraph ends at its last stop, whatever stands before it
        (
            "They sold pots, pans, etc.\n\nAnd then…\n\nNext.\n\n",
            ["They sold pots, pans, etc.", "And then…", "Next."],
        ),
    ],
)
def test_sentence_ends_skip_abbreviations_initials_decimals_and_ellipses(
    text: str, sentences: list[str]
) -> None:
    assert _sentences(text) == sentences
