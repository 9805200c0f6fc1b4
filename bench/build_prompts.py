"""Prompt-building speed and memory, measured side by side in one run.

    python bench/build_prompts.py [--corpus DIR] [--repeats N] [--grid log|linear|both]
                                  [--skip-10m] [--needles]

1. Two 10-length x 10-depth grids on a folder corpus with cl100k_base: lengths
   1K -> 1M log-spaced, and gkamradt's classic linear spacing (1K, 112K, ... 1M:
   ~5x the tokens of the log grid). The floor does the least any exact harness must:
   tokenize the needed corpus once, decode it once, then cut each context as a byte
   slice (no needle, no exactness, no hashing). niah is timed cold (no corpus cache)
   and warm (corpus cached on disk), each as a fresh process would run it (the
   tokenizer reloaded). Floor, cold and warm alternate within each repetition, so
   the machine's drift hits them alike; medians with (min-max) are printed, and the
   ratios are medians of the per-repetition ratios.
2. One 10M-token prompt (the corpus repeated), in a fresh process: wall time and
   peak resident memory.
3. Many needles (``--needles``): one prompt of 1,000 distinct key->value needles
   beside one of a single needle, at 128K and 1M tokens, built side by side in one
   warm process (corpus loaded, a first build discarded), alternating; medians with
   (min-max) and their ratio.

Targets (issues 2 and 9): each grid within 1.3x of the floor; 10M prompt under 10 s
and 1.5 GiB.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_CORPUS = next(  # shared/ beside the checkout, or beside a worktree's parent
    (
        p / "shared" / "corpora" / "gutenberg"
        for p in Path(__file__).resolve().parents
        if (p / "shared" / "corpora" / "gutenberg").is_dir()
    ),
    Path(__file__).resolve().parents[2] / "shared" / "corpora" / "gutenberg",
)
NEEDLE = {
    "text": "The special magic number is {value}.",
    "question": "What is the special magic number?",
}


def experiment(corpus: Path, lengths: object, depths: object) -> object:
    from niah import load_experiment

    return load_experiment(
        {
            "name": "bench",
            "model": "openai/gpt-4",
            "tokenizer": "tiktoken:cl100k_base",
            "haystack": {"kind": "files", "path": str(corpus)},
            "needles": [NEEDLE],
            "grid": {"context_lengths": lengths, "depth_percents": depths},
        }
    )


def floor(corpus: Path, lengths: list[int], n_depths: int) -> float:
    """Tokenize what is needed once, decode once, slice every context from the bytes."""
    from niah.haystack.sources import open_source
    from niah.tokenizers import load_tokenizer

    t0 = time.perf_counter()
    tok = load_tokenizer("tiktoken:cl100k_base")
    paras = list(open_source(experiment(corpus, [1000], [0]).haystack).paragraphs())  # type: ignore[attr-defined]
    text = "\n\n".join(paras)
    chunks = [text[i : i + 65536] for i in range(0, len(text), 65536)]
    ids = [t for chunk in tok.encode_batch(chunks) for t in chunk]  # type: ignore[attr-defined]
    need = max(lengths)
    data = tok.decode_bytes(ids[:need])  # type: ignore[attr-defined]
    scale = len(data) / need
    for length in lengths:
        for _ in range(n_depths):
            ctx = data[: int(length * scale)].decode("utf-8", "ignore")
            assert ctx
    return time.perf_counter() - t0


def niah_grid(corpus: Path, lengths: list[int], depths: list[float]) -> tuple[float, int]:
    from niah import plan
    from niah.haystack.builder import PromptBuilder

    t0 = time.perf_counter()
    exp = experiment(corpus, lengths, depths)
    builder = PromptBuilder(exp)  # type: ignore[arg-type]
    n = 0
    for trial in plan(exp):  # type: ignore[arg-type]
        bp = builder.build(trial)
        assert bp.context_tokens == trial.context_length
        n += 1
    return time.perf_counter() - t0, n


def ten_million(corpus: Path) -> None:
    """Child process: build one 10M-token prompt, print seconds and peak RSS."""
    from niah import plan
    from niah.haystack.builder import PromptBuilder

    t0 = time.perf_counter()
    exp = experiment(corpus, [10_000_000], [50])
    bp = PromptBuilder(exp).build(plan(exp)[0])  # type: ignore[arg-type]
    dt = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    start, end = bp.context_span  # its length without copying the context
    print(f"{dt:.2f} {peak:.3f} {bp.context_tokens} {end - start}")


MANY = {"text": "The special magic number for {key} is {value}.", "count": 1000,
        "key": {"kind": "word_pair"}, "value": {"kind": "random_number"}}


def many_needles(corpus: Path, repeats: int) -> None:
    """1,000 needles beside one, per length, in one warm process (see the docstring)."""
    from niah import load_experiment, plan
    from niah.tasks.registry import task_builder

    print(f"1,000 needles vs 1 (warm, cl100k_base, {corpus.name}); median (min-max) of "
          f"{repeats}, seconds per prompt")
    print(f"{'length':>8s}  {'1 needle':19s}  {'1,000 needles':19s}  ratio")
    for length in (128_000, 1_000_000):
        builders, trials = {}, {}
        for name, needles in (("one", [NEEDLE]), ("many", [MANY])):
            exp = load_experiment({
                "name": "bench", "model": "openai/gpt-4", "tokenizer": "tiktoken:cl100k_base",
                "haystack": {"kind": "files", "path": str(corpus)}, "needles": needles,
                "grid": {"context_lengths": [length], "depth_percents": [0, 50],
                         "repeats": repeats + 1}})
            builders[name] = task_builder(exp, exp.model[0])
            trials[name] = plan(exp)
            builders[name].build(trials[name][-1])  # warm: corpus, tables, hashes
        times: dict[str, list[float]] = {"one": [], "many": []}
        for k in range(repeats):
            for name in ("one", "many"):
                t0 = time.perf_counter()
                bp = builders[name].build(trials[name][k])
                times[name].append(time.perf_counter() - t0)
                assert bp.context_tokens == length
        ratio = [m / o for m, o in zip(times["many"], times["one"], strict=True)]
        print(f"{length:>8,d}  {_spread(times['one']):19s}  {_spread(times['many']):19s}  "
              f"{_spread(ratio, '{:.1f}x')}")


def _spread(xs: list[float], fmt: str = "{:.2f}") -> str:
    return f"{fmt.format(statistics.median(xs))} ({fmt.format(min(xs))}-{fmt.format(max(xs))})"


def _lengths(grid: str) -> list[int]:
    import numpy as np

    spaced = np.geomspace if grid == "log" else np.linspace  # linear: gkamradt's classic
    return [int(x) for x in spaced(1000, 1_000_000, 10)]


DEPTHS = [100 * i / 9 for i in range(10)]


def child(corpus: Path, grid: str, what: str) -> None:
    """One measurement in a fresh process; prints wall and CPU seconds."""
    import niah.haystack.builder  # imports are not prompt building; loading the tokenizer is
    import niah.tokenizers

    del niah
    wall0, cpu0 = time.perf_counter(), time.process_time()
    if what == "floor":
        floor(corpus, _lengths(grid), len(DEPTHS))
    else:
        niah_grid(corpus, _lengths(grid), DEPTHS)
    print(time.perf_counter() - wall0, time.process_time() - cpu0)


def _run(corpus: Path, grid: str, what: str, cache: str) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", what, "--grid", grid, "--corpus", str(corpus)],
        env={**os.environ, "NIAH_CACHE_DIR": cache},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(out[0]), float(out[1])


def compare(corpus: Path, grid: str, repeats: int) -> None:
    """Floor, niah cold and niah warm, alternating, each in a fresh process."""
    runs: dict[str, list[tuple[float, float]]] = {"floor": [], "cold": [], "warm": []}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:  # cold: nothing tokenized before
            for what in ("floor", "cold", "warm"):  # warm: the corpus cached on disk
                runs[what].append(_run(corpus, grid, what, cache))
    x = "{:.2f}x"
    for k, clock in enumerate(("wall", "CPU")):
        f, c, w = ([r[k] for r in runs[what]] for what in ("floor", "cold", "warm"))
        cold_r = [a / b for a, b in zip(c, f, strict=True)]
        warm_r = [a / b for a, b in zip(w, f, strict=True)]
        cells = [_spread(f), _spread(c), _spread(cold_r, x), _spread(w), _spread(warm_r, x)]
        print(f"{grid:6s} {clock:4s} " + "  ".join(f"{cell:19s}" for cell in cells))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--grid", choices=["log", "linear", "both"], default="both")
    ap.add_argument("--skip-10m", action="store_true")
    ap.add_argument("--needles", action="store_true",
                    help="only the 1,000-needle vs 1-needle comparison")
    ap.add_argument("--child-10m", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--child", choices=["floor", "cold", "warm"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_10m:
        ten_million(args.corpus)
        return
    if args.child:
        child(args.corpus, args.grid, args.child)
        return
    if not args.corpus.is_dir():
        sys.exit(f"corpus folder not found: {args.corpus}")
    if args.needles:
        many_needles(args.corpus, args.repeats)
        return
    print(
        f"100 prompts: 10 lengths 1K-1M x 10 depths, cl100k_base, {args.corpus.name}; "
        f"each run a fresh process; median (min-max) of {args.repeats}"
    )
    heads = ["floor s", "niah cold s", "cold / floor", "niah warm s", "warm / floor"]
    print(f"{'grid':6s} {'time':4s} " + "  ".join(f"{h:19s}" for h in heads))
    for grid in ("log", "linear") if args.grid == "both" else (args.grid,):
        compare(args.corpus, grid, args.repeats)
    if not args.skip_10m:
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "NIAH_CACHE_DIR": cache}
            out = subprocess.run(
                [sys.executable, __file__, "--child-10m", "--corpus", str(args.corpus)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
        print(
            f"10M-token prompt (cold): {float(out[0]):.2f} s, peak RSS {float(out[1]):.2f} GiB, "
            f"{int(out[2]):,} tokens exact, {int(out[3]):,} characters"
        )
    many_needles(args.corpus, args.repeats)


if __name__ == "__main__":
    main()
