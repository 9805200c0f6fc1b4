"""Cutting audio into recognition segments at pauses, by content alone.

A segment ends in the middle of a pause (>= ``min_pause_s`` of near-silence) when a hash
of the 0.25 s of audio before that pause is 0 modulo ``pauses_per_segment`` (rsync-style
content-defined chunking). The decision looks only at nearby samples, so the same speech
is cut the same way wherever it sits: when a needle is inserted into a haystack, every
segment after the needle's neighbourhood has the same samples as in any other trial,
only shifted, and its cached transcript is reused. A segment longer than
``max_segment_s`` is cut at its last pause (or hard) – the one non-local rule, for audio
with no pauses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator

import numpy as np

from niah.media._clips import PauseFinder

_CONTEXT_S = 0.25


class _Buffer:
    """A growable int16 array (amortized appends, no per-block reallocation)."""

    def __init__(self) -> None:
        self.data = np.zeros(1 << 16, np.int16)
        self.n = 0

    def append(self, block: np.ndarray) -> None:
        need = self.n + len(block)
        if need > len(self.data):
            grown = np.zeros(max(need, 2 * len(self.data)), np.int16)
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        self.data[self.n: need] = block
        self.n = need

    def take(self, k: int) -> np.ndarray:
        """Remove and return the first ``k`` samples."""
        head = self.data[:k].copy()
        self.data[: self.n - k] = self.data[k: self.n]
        self.n -= k
        return head


def _chosen(context: np.ndarray, every: int) -> bool:
    if every <= 1:
        return True
    digest = hashlib.blake2b(context.tobytes(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % every == 0


def segments(
    blocks: Iterable[np.ndarray], rate: int, *, min_pause_s: float, silence: int,
    pauses_per_segment: int, max_segment_s: float,
) -> Iterator[tuple[int, np.ndarray]]:
    """(start sample, samples) of each segment of the stream ``blocks``."""
    finder = PauseFinder(rate, min_pause_s, silence)
    context = max(1, round(_CONTEXT_S * rate))
    max_len = max(1, round(max_segment_s * rate))
    buf = _Buffer()
    start = 0  # stream position of buf's first sample
    last_pause = 0  # stream position of the latest pause middle inside buf
    for block in blocks:
        buf.append(block)
        for s, e in finder.feed(block):
            mid = int(s + e) // 2
            if mid <= start:
                continue
            last_pause = mid
            hi = max(0, int(s) - start)
            if _chosen(buf.data[max(0, hi - context): hi], pauses_per_segment):
                yield start, buf.take(mid - start)
                start = mid
        while buf.n > max_len:
            cut = last_pause if last_pause > start else start + max_len
            yield start, buf.take(cut - start)
            start = cut
    if buf.n:
        yield start, buf.take(buf.n)
