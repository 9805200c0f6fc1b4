"""Fixed cuts of the corpus prefix for provider prompt caches, and long-prompt memory.

Every context starts with the corpus prefix up to its first needle, so a cut at the
same corpus position is the same text in every prompt that reaches it. ``CutTable``
puts one at the last word start (a token that is one space then a non-space, " word")
at or before each multiple of ``CACHE_BLOCK_TOKENS`` and knows its character offset,
so ``BuiltPrompt.cache_cuts`` costs a lookup per cut (``niah.prompt_cache`` decides
which to mark). A word start begins a pre-token, so the text after a cut tokenizes
alone as it does in place. Sentence starts would do too, but correct sentence ends
leave few space-led ones in double-spaced books: cuts fell ~370 tokens short of
their multiple on average (word starts: a few), left uncached in every request.
"""

from __future__ import annotations

import numpy as np

from niah.haystack.corpus import Corpus
from niah.prompt import CACHE_BLOCK_TOKENS

LONG_PROMPT_TOKENS = 1_000_000
"""Above this size, large temporaries are kept out of the malloc heap (``tame_heap``).
Not for 1M-token grids: there every 1 MiB+ block mapped fresh cost ~15% of a warm
build's CPU (page faults), and the heap's holes are a few MB (bench/memory.py --tokens
1M: 1.66x of the four prompts untamed, 1.82x tamed; 2M: 1.49x, 1.42x)."""


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
            self._extend(max(count, 2 * len(self.tokens)))
        tokens = self.tokens[:count]
        # cuts with no word start between them merge into one (the cut positions rise)
        keep = (tokens > np.concatenate(([0], tokens[:-1]))) & (tokens <= stable)
        ks = np.flatnonzero(keep) + 1
        chars = self.chars[:count][keep] + offset
        return tuple(zip(ks.tolist(), chars.tolist(), strict=True))

    def _extend(self, count: int) -> None:
        corpus = self.corpus
        count = min(count, corpus.n_tokens // CACHE_BLOCK_TOKENS)
        have = len(self.tokens)
        prev = int(self.tokens[-1]) if have else 0
        found: list[int] = []
        for k in range(have + 1, count + 1):
            # scanned back no further than the cut before: none in between merges them
            start = corpus.word_start(prev, k * CACHE_BLOCK_TOKENS + 1, last=True)
            prev = prev if start is None else start
            found.append(prev)
        tokens = np.array(found, dtype=np.int64)
        ends = corpus.offsets[tokens]
        if corpus.data.isascii():
            chars = ends
        else:  # count UTF-8 lead bytes, one stretch at a time (never the whole corpus)
            raw = corpus.raw
            chars = np.empty_like(ends)
            done = int(corpus.offsets[self.tokens[-1]]) if have else 0
            total = int(self.chars[-1]) if have else 0
            for i, end in enumerate(ends.tolist()):
                total += int(np.count_nonzero((raw[done:end] & 0xC0) != 0x80))
                chars[i], done = total, end
        self.tokens = np.concatenate((self.tokens, tokens))
        self.chars = np.concatenate((self.chars, chars))


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
