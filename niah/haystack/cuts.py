"""Fixed cuts of the corpus prefix for provider prompt caches, and long-prompt memory.

Every context starts with the corpus prefix up to its first needle, so a cut at the
same corpus position is the same text in every prompt that reaches it. ``CutTable``
puts one at the last sentence start (" Next") at or before each multiple of
``CACHE_BLOCK_TOKENS`` and knows its character offset, so ``BuiltPrompt.cache_cuts``
costs a lookup per cut (``niah.prompt_cache`` decides which to mark).
"""

from __future__ import annotations

import numpy as np

from niah.haystack.corpus import Corpus
from niah.prompt import CACHE_BLOCK_TOKENS

LONG_PROMPT_TOKENS = 500_000
"""From this size on, large temporaries are kept out of the malloc heap (``tame_heap``)."""


class CutTable:
    """Token and character positions of the fixed cuts of one corpus, made as needed."""

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus
        self.tokens = np.zeros(0, dtype=np.int64)
        self.chars = np.zeros(0, dtype=np.int64)

    def cuts(self, stable: int, offset: int) -> tuple[tuple[int, int], ...]:
        """``BuiltPrompt.cache_cuts`` of a context whose first ``stable`` tokens are the
        corpus prefix, starting at character ``offset`` of the user message."""
        count = stable // CACHE_BLOCK_TOKENS
        if count < 1:
            return ()
        if len(self.tokens) < count:
            self._extend(count)
        out: list[tuple[int, int]] = []
        last = 0
        for k in range(1, count + 1):
            token = int(self.tokens[k - 1])
            if last < token <= stable:  # cuts closer than a sentence merge into one
                out.append((k, offset + int(self.chars[k - 1])))
                last = token
        return tuple(out)

    def _extend(self, count: int) -> None:
        corpus = self.corpus
        heads = corpus.space_bounds
        want = np.arange(1, count + 1) * CACHE_BLOCK_TOKENS
        at = np.searchsorted(heads, want, side="right") - 1
        tokens = np.where(at >= 0, heads[np.maximum(at, 0)], 0)
        ends = corpus.offsets[tokens]
        if corpus.data.isascii():
            chars = ends
        else:  # count UTF-8 lead bytes, one stretch at a time (never the whole corpus)
            raw = np.frombuffer(corpus.data, dtype=np.uint8)
            chars = np.empty_like(ends)
            done = total = 0
            for i, end in enumerate(ends.tolist()):
                total += int(np.count_nonzero((raw[done:end] & 0xC0) != 0x80))
                chars[i], done = total, end
        self.tokens, self.chars = tokens, chars


_heap_tamed = False


def tame_heap() -> None:
    """Keep allocations of 1 MiB and more out of glibc's heap, once per process.

    glibc raises its mmap threshold to the size of each large block freed (up to
    32 MiB), so after the first long prompt the builder's 10-40 MB temporaries come
    from the heap, whose holes it rarely returns: with four 10M-token prompts in
    flight about 35 MB more stayed resident at the peak (0.23x of the four prompts).
    A fixed threshold hands them back on free.
    """
    global _heap_tamed
    if _heap_tamed:
        return
    _heap_tamed = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc: nothing to tame
        pass
