"""RAG retrieval per trial on a 1M-token haystack: niah beside bm25s called directly.

    python bench/rag.py [--tokens 1000000] [--chunk 256]

For each depth of one length (the trials share the haystack, not the needle's place)
it times niah's retrieval (``Chunker.chunks`` + ``BM25.scores`` + ``top_k``: chunking
in the model's tokenizer, indexing and the query) and, on the very same chunks, bm25s
alone (tokenize + index + query): the bar is niah within 1.2x of the library. The
first depth pays for counting every sentence and tokenizing every chunk; later depths
reuse both caches (only chunks whose text changed are counted and tokenized again),
so only the index itself is rebuilt. Both must rank the same chunk first.
"""

from __future__ import annotations

import argparse
import time

import bm25s
import numpy as np

from niah.config import load_experiment
from niah.haystack.builder import PromptBuilder
from niah.plan import plan
from niah.rag.chunking import Chunker
from niah.rag.retrievers import BM25, top_k


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokens", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=256)
    args = ap.parse_args()
    exp = load_experiment({
        "name": "bench-rag", "model": "scripted/perfect",
        "needles": [{"text": "The special magic number is {value}.",
                     "question": "What is the special magic number?"}],
        "grid": {"context_lengths": [args.tokens], "depth_percents": [10, 50, 90]},
    })
    builder = PromptBuilder(exp)
    chunker, bm25 = Chunker(builder.tokenizer, args.chunk), BM25()
    print(f"{args.tokens:,}-token contexts, chunks of <= {args.chunk} tokens, cl100k_base")
    print(f"{'depth':>6} {'build':>7} {'niah':>7} {'chunking':>9} {'bm25s direct':>13} "
          f"{'niah/direct':>12} {'query':>7}")
    for trial in plan(exp):
        t0 = time.perf_counter()
        bp = builder.build(trial)
        context, question = bp.context, bp.question
        t1 = time.perf_counter()
        _sentences, chunks = chunker.chunks(context)
        t2 = time.perf_counter()
        texts = [context[c.start : c.end] for c in chunks]
        ours = top_k(bm25.scores(question, texts), 4)
        t3 = time.perf_counter()
        tokens = bm25s.tokenize(texts, stopwords="en", show_progress=False)
        index = bm25s.BM25()
        index.index(tokens, show_progress=False)
        query = bm25s.tokenize([question], stopwords="en", show_progress=False)
        docs, _ = index.retrieve(query, k=4, show_progress=False)
        t4 = time.perf_counter()
        q0 = time.perf_counter()
        index.retrieve(query, k=4, show_progress=False)
        q1 = time.perf_counter()
        assert ours[0] == int(np.asarray(docs)[0][0]), "niah and bm25s disagree"
        needle = bp.needles[0].text
        assert needle in texts[ours[0]], "the needle's chunk is not first"
        print(f"{trial.requested_depth:>5g}% {t1 - t0:>6.2f}s {t3 - t1:>6.2f}s "
              f"{t2 - t1:>8.2f}s {t4 - t3:>12.2f}s {(t3 - t1) / (t4 - t3):>11.2f}x "
              f"{(q1 - q0) * 1000:>5.1f}ms   ({len(chunks):,} chunks)")


if __name__ == "__main__":
    main()
