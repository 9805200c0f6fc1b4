"""Scoring 1,000 needles in one reply: niah's scorer beside the per-needle baseline.

    python bench/scoring.py [--needles 1000] [--repeats 7]

The baseline is the scorer as it was before issue 9: every needle normalised the
whole reply again (NFKC, case-folding, digit-group joining, word splitting), so a
row with n needles cost n normalisations of the reply. niah now normalises the reply
once per row. Both score the same rows and must agree needle for needle; the bench
prints each one's median time per row with its spread, and their ratio.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from niah.config import ScoringSpec
from niah.scoring import _variants, score


class Needle:
    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.distractor = False


def baseline(needles: list[Needle], response: str) -> list[bool]:
    """The old ``contains``: the reply re-normalised for every needle."""
    hits = []
    for n in needles:
        answers = {a for a in _variants(n.answer) if a}
        padded = [f" {r} " for r in _variants(response)]
        hits.append(any(f" {a} " in r for a in answers for r in padded))
    return hits


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def spread(xs: list[float]) -> str:
    ms = [x * 1000 for x in xs]
    return f"{statistics.median(ms):.1f} ms (min {min(ms):.1f}, max {max(ms):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--needles", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(0)
    needles = [Needle(str(rng.randrange(1_000_000, 10_000_000))) for _ in range(args.needles)]
    # a model listing most values, as a 1,000-needle reply does, with prose around them
    said = [f"The value for key {i} is {n.answer}." for i, n in enumerate(needles) if i % 10]
    response = " ".join(said)
    spec = ScoringSpec()
    new_hits = score(needles, response, spec)[1]
    assert new_hits == baseline(needles, response), "the two scorers disagree"
    old = timed(lambda: baseline(needles, response), max(1, args.repeats // 3))
    new = timed(lambda: score(needles, response, spec), args.repeats)
    print(f"{args.needles} needles, reply of {len(response):,} characters, "
          f"{sum(new_hits)} found")
    print(f"  baseline (reply normalised per needle): {spread(old)} per row")
    print(f"  niah (reply normalised once):           {spread(new)} per row")
    print(f"  ratio niah / baseline: {statistics.median(new) / statistics.median(old):.4f}")


if __name__ == "__main__":
    main()
