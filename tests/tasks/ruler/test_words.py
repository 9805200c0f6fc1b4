"""cwe and fwe options, and the shipped word list."""

from __future__ import annotations

import collections
import re

import pytest

from niah.errors import HaystackError
from niah.tasks.ruler.common import words
from niah.tasks.ruler.words import zeta
from tests.tasks.ruler.helpers import built, experiment


def test_the_word_list_is_lower_case_words_without_slurs() -> None:
    w = words()
    assert len(w) > 14000 and len(set(w)) == len(w) and list(w) == sorted(w)
    assert all(re.fullmatch(r"[a-z]{3,12}", x) for x in w)
    assert not {"nigger", "whore", "damn"} & set(w)


def test_cwe_frequencies_are_options() -> None:
    exp = experiment("cwe", lengths=[3000], options={"num_cw": 5, "freq_cw": 8,
                                                     "freq_ucw": 2, "few_shot": False})
    bp = built(exp)[0]
    counts = collections.Counter(re.findall(r"\d+\. (\S+)", bp.context))
    assert len(bp.needles) == 5 and all(counts[n.answer] == 8 for n in bp.needles)
    assert {c for w, c in counts.items() if w not in {n.answer for n in bp.needles}} == {2}
    assert bp.messages[-1]["content"].count("Below is a numbered list") == 1
    assert "the 5 most common words" in bp.question


def test_cwe_says_when_the_word_list_is_too_short() -> None:
    exp = experiment("cwe", lengths=[400_000], options={"freq_cw": 2, "freq_ucw": 1})
    shipped = r"distinct words shipped; raise task\.options\.freq_ucw"
    with pytest.raises(HaystackError, match=shipped):
        built(exp)


def test_zeta_matches_known_values() -> None:
    assert zeta(2.0) == pytest.approx(1.6449340668482264, rel=1e-12)
    assert zeta(3.0) == pytest.approx(1.2020569031595942, rel=1e-12)


def test_fwe_alpha_and_word_length_are_options() -> None:
    bp = built(experiment("fwe", lengths=[2000], options={"alpha": 3.0, "coded_wordlen": 4}))[0]
    assert all(re.fullmatch(r"[a-z]{4}", n.answer) for n in bp.needles)
    counts = collections.Counter(bp.context.split(" "))
    top = [w for w, _ in counts.most_common(4)]
    assert top[0] == "..." and set(top[1:]) == {n.answer for n in bp.needles}
