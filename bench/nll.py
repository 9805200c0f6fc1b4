"""Tokens scored per second and peak memory: niah's NLL source vs llama-cpp-python alone.

    python bench/nll.py [--window 2048] [--repeats 3] [--threads 1] [--memory-window 8192]

The same tokens (the start of the standard library's ``asyncio`` sources, as the
quickstart's code corpus) are evaluated by the embedded SmolLM2-135M in four ways,
each with its own loaded model, in turn, ``--repeats`` times:

- **llama-cpp-python, logits_all**: ``Llama(logits_all=True).eval(tokens)``, the
  library's own way to get every logit (kept in ``Llama.scores``, n_ctx x vocabulary);
- **the same + NLL**: then the NLL of each token from that matrix with numpy, what
  scoring costs without niah;
- **niah**: ``LlamaCppSource.score(tokens)`` (niah/nll/llamacpp.py): every logit of one
  pass, read batch by batch in place and reduced to one number per token;
- **prefill only**: ``Llama(logits_all=False).eval(tokens)``, the floor (logits of the
  last token only: the output layer runs once per batch instead of once per token).

Speed is the median of paired ratios (each niah run against the run of the other way
just before it; this VM's speed drifts), with their range. Peak memory is measured
for ``--memory-window`` tokens, each way in a fresh child process (its own peak RSS,
``VmHWM``), next to the RSS after loading: the difference is what scoring costs.

Targets (issue 13): niah at least 0.9x llama-cpp-python's own evaluation of the same
tokens; no full vocabulary x window float32 matrix kept beyond what is needed.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

METHODS = ("logits_all", "logits_all+nll", "niah", "prefill")
LABELS = {
    "logits_all": "llama-cpp-python, logits_all",
    "logits_all+nll": "the same + NLL (numpy)",
    "niah": "niah LlamaCppSource.score",
    "prefill": "prefill only (floor)",
}


def tokens(n: int) -> list[int]:
    from niah.gguf import embedded_gguf
    from niah.nll.config import CorpusSpec, NllConfig
    from niah.nll.documents import load_documents
    from niah.tokenizers import load_tokenizer

    spec = CorpusSpec(name="code", kind="tree", paths=["python:asyncio"])
    config = NllConfig(name="bench", model=[{"id": "llamacpp/smollm2-135m"}],  # type: ignore[list-item]
                       corpora=[spec])
    text = load_documents(spec, config, "bench")[0].text
    ids = load_tokenizer(f"llamacpp:{embedded_gguf()}").encode(text[: n * 8])
    if len(ids) < n:
        raise SystemExit(f"only {len(ids)} tokens of asyncio; use a smaller window")
    return ids[:n]


def runner(method: str, window: int, threads: int) -> Callable[[list[int]], Any]:
    """Load a model for ``method``; return a function that evaluates a window."""
    from niah.backends.llamacpp import amx_advertised
    from niah.config import ModelSpec
    from niah.gguf import embedded_gguf
    from niah.nll.llamacpp import LlamaCppSource, load_llama

    n_ctx = -(-window // 256) * 256
    if method == "niah":
        source = LlamaCppSource(ModelSpec(id="llamacpp/smollm2-135m", options={
            "n_threads": threads, "n_threads_batch": threads, "n_batch": 512}))
        source.prepare(window)
        return source.score
    llm = load_llama(embedded_gguf(), not amx_advertised(), n_ctx=n_ctx, n_batch=512,
                     n_ubatch=512, n_threads=threads, n_threads_batch=threads,
                     logits_all=method != "prefill", verbose=False)

    def evaluate(ids: list[int]) -> Any:
        llm.reset()
        llm.eval(ids)
        if method != "logits_all+nll":
            return None
        scores = llm.scores[: len(ids) - 1]
        peak = scores.max(axis=1)
        lse = np.log(np.exp(scores - peak[:, None]).sum(axis=1)) + peak
        return lse - scores[np.arange(len(ids) - 1), ids[1:]]

    return evaluate


def speed(args: argparse.Namespace) -> None:
    ids = tokens(args.window)
    runs = {m: runner(m, args.window, args.threads) for m in METHODS}
    runs["niah"](ids)  # warm up every model once (first-touch of buffers)
    for m in METHODS:
        if m != "niah":
            runs[m](ids)
    seconds: dict[str, list[float]] = {m: [] for m in METHODS}
    for _ in range(args.repeats):
        for m in METHODS:
            start = time.perf_counter()
            runs[m](ids)
            seconds[m].append(time.perf_counter() - start)
    print(f"window: {args.window} tokens of asyncio's sources, SmolLM2-135M, {args.threads} "
          f"thread(s), n_batch 512, {args.repeats} alternating runs each")
    for m in METHODS:
        rates = [args.window / s for s in seconds[m]]
        line = (f"  {LABELS[m]:32s} median {statistics.median(rates):7.1f} tokens/s "
                f"(range {min(rates):.1f}-{max(rates):.1f})")
        if m != "niah":
            pairs = [a / b for a, b in zip(seconds[m], seconds["niah"], strict=True)]
            line += (f"   niah / this: median {statistics.median(pairs):.3f}x "
                     f"(range {min(pairs):.3f}-{max(pairs):.3f})")
        print(line)


def child(method: str, window: int, threads: int) -> None:
    """Peak RSS of one way of evaluating ``window`` tokens, printed as JSON."""
    ids = tokens(window)
    run = runner(method, window, threads)
    loaded = _rss_now()
    start = time.perf_counter()
    run(ids)
    elapsed = time.perf_counter() - start
    print(json.dumps({"method": method, "loaded": loaded, "peak": _peak_rss(),
                      "seconds": elapsed}))


def _rss_now() -> int:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _peak_rss() -> int:
    """VmHWM: the process's own peak (``ru_maxrss`` would carry the parent's across
    fork and exec, and the parent holds four models)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def memory(args: argparse.Namespace) -> None:
    matrix = args.memory_window * 49152 * 4
    print(f"memory: {args.memory_window}-token window, each way in a fresh process; a full "
          f"vocabulary x window float32 matrix is {matrix / 2**20:,.0f} MiB")
    for m in METHODS:
        if m == "logits_all+nll" and not args.all_memory:
            continue  # the same matrix as logits_all, plus numpy temporaries
        out = subprocess.run(
            [sys.executable, __file__, "--child", m, "--window", str(args.memory_window),
             "--threads", str(args.threads)], check=True, capture_output=True, text=True,
        ).stdout.strip().splitlines()[-1]
        r = json.loads(out)
        added = (r["peak"] - r["loaded"]) / 2**20
        print(f"  {LABELS[r['method']]:32s} peak RSS {r['peak'] / 2**20:7,.0f} MiB; after load "
              f"{r['loaded'] / 2**20:6,.0f} MiB; scoring added {added:6,.0f} MiB "
              f"({r['seconds']:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--window", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-window", type=int, default=8192)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--all-memory", action="store_true",
                        help="also measure logits_all + NLL in memory")
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.window, args.threads)
        return
    if not args.skip_speed:
        speed(args)
    if not args.skip_memory:
        memory(args)


if __name__ == "__main__":
    main()
