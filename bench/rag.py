"""RAG retrieval per trial on a 1M-token haystack: niah beside bm25s called directly.

    python bench/rag.py [--tokens 1000000] [--chunk 256] [--depths 9]

For each depth of one length (the trials share the haystack, not the needle's place)
it times niah's retrieval (``Chunker.chunks`` + ``BM25.scores`` + ``top_k``: chunking
in the model's tokenizer, then scoring) and, on the very same chunks, bm25s alone
(tokenize + index + query): the bar is niah within 1.2x of the library. The first
depth pays for counting every sentence and chunk and tokenizing every chunk; later
depths reuse those caches and only recount and retokenize the chunks whose text
changed. niah builds no bm25s index (bm25s cannot update one; a query needs only its
words' counts), and its scores must equal the direct index's bit for bit.
"""

from __future__ import annotations

import argparse
import statistics
import time

import bm25s
import numpy as np

from niah.config import load_experiment
from niah.haystack.builder import PromptBuilder
from niah.plan import plan
from niah.rag.chunking import Chunker
from niah.rag.retrievers import BM25, top_k


def spread(xs: list[float], unit: str = "s") -> str:
    return f"{statistics.median(xs):.3f}{unit} [{min(xs):.3f}-{max(xs):.3f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokens", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=256)
    ap.add_argument("--depths", type=int, default=9)
    args = ap.parse_args()
    exp = load_experiment({
        "name": "bench-rag", "model": "scripted/perfect",
        "needles": [{"text": "The special magic number is {value}.",
                     "question": "What is the special magic number?"}],
        "grid": {"context_lengths": [args.tokens],
                 "depth_percents": {"min": 5, "max": 95, "num": args.depths}},
    })
    builder = PromptBuilder(exp)
    chunker, bm25 = Chunker(builder.tokenizer, args.chunk), BM25()
    print(f"{args.tokens:,}-token contexts, chunks of <= {args.chunk} tokens, cl100k_base")
    print(f"{'depth':>6} {'niah':>7} {'chunking':>9} {'scoring':>8} {'bm25s direct':>13} "
          f"{'niah/direct':>12} {'direct query':>13}")
    rows: list[tuple[float, float, float, float]] = []
    for trial in plan(exp):
        bp = builder.build(trial)
        context, question = bp.context, bp.question
        t1 = time.perf_counter()
        _sentences, chunks = chunker.chunks(context)
        t2 = time.perf_counter()
        texts = [context[c.start : c.end] for c in chunks]
        scores = bm25.scores(question, texts)
        ours = top_k(scores, 4)
        t3 = time.perf_counter()
        tokens = bm25s.tokenize(texts, stopwords="en", show_progress=False)
        index = bm25s.BM25()
        index.index(tokens, show_progress=False)
        query = bm25s.tokenize([question], stopwords="en", show_progress=False)
        docs, _ = index.retrieve(query, k=4, show_progress=False)
        t4 = time.perf_counter()
        index.retrieve(query, k=4, show_progress=False)
        q = time.perf_counter() - t4
        assert ours[0] == int(np.asarray(docs)[0][0]), "niah and bm25s disagree"
        words = bm25s.tokenize([question], stopwords="en", return_ids=False,
                               show_progress=False)[0]
        assert np.array_equal(scores, index.get_scores(words)), "scores differ"
        assert bp.needles[0].text in texts[ours[0]], "the needle's chunk is not first"
        rows.append((t3 - t1, t2 - t1, t3 - t2, t4 - t3))
        print(f"{trial.requested_depth:>5g}% {t3 - t1:>6.3f}s {t2 - t1:>8.3f}s "
              f"{t3 - t2:>7.3f}s {t4 - t3:>12.3f}s {(t3 - t1) / (t4 - t3):>11.2f}x "
              f"{q * 1000:>10.1f}ms   ({len(chunks):,} chunks)")
    warm = rows[1:]
    if warm:
        print(f"warm depths ({len(warm)}), median [min-max]: niah {spread([r[0] for r in warm])}"
              f" (chunking {spread([r[1] for r in warm])}, scoring "
              f"{spread([r[2] for r in warm])}), bm25s direct {spread([r[3] for r in warm])},"
              f" ratio {spread([r[0] / r[3] for r in warm], 'x')}")


if __name__ == "__main__":
    main()
