"""The quickstart's wall time vs the model's own time: niah's overhead on a real run.

    python bench/quickstart_overhead.py [--threads N] [--lengths 1000 2000] [--cli]

Runs ``configs/quickstart.yaml`` on the embedded SmolLM2-135M into a temporary
directory with an empty corpus cache (what a newcomer's first run does), then reads
the rows. The model's time is the sum of each row's ``extra.raw.eval_s`` (inside
llama-cpp-python's ``create_chat_completion``: templating, prefill, generation);
loading the GGUF is timed apart. Everything else is the harness: config, haystack
generation and tokenization, prompt building, scoring, fsynced rows, the manifest.

By default the in-process API (``niah.runner.run``) runs and model loading is timed
by wrapping ``LlamaCppBackend.prepare``. ``--cli`` runs ``python -m niah run`` as a
newcomer would (interpreter start, imports and progress bar included; the load is
then part of the overhead).

Target (issue 3): harness overhead <= 5% of the wall time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml"


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"run.cache": False}
    if args.threads:
        out["model.options.n_threads"] = args.threads
        out["model.options.n_threads_batch"] = args.threads
    if args.lengths:
        out["grid.context_lengths"] = args.lengths
    return out


def in_process(args: argparse.Namespace, out: Path) -> tuple[float, float]:
    """(wall seconds of ``niah.runner.run``, seconds spent loading the model)."""
    from niah import load_experiment
    from niah.backends.llamacpp import LlamaCppBackend
    from niah.runner import run

    loads: list[float] = []
    prepare = LlamaCppBackend.prepare

    async def timed_prepare(
        self: LlamaCppBackend, max_prompt_tokens: int, max_tokens: int
    ) -> None:
        start = time.perf_counter()
        await prepare(self, max_prompt_tokens, max_tokens)
        loads.append(time.perf_counter() - start)

    LlamaCppBackend.prepare = timed_prepare  # type: ignore[method-assign]
    try:
        start = time.perf_counter()
        experiment = load_experiment(args.config, **overrides(args))
        run(experiment, out, fresh=True)
        return time.perf_counter() - start, sum(loads)
    finally:
        LlamaCppBackend.prepare = prepare  # type: ignore[method-assign]


def cli(args: argparse.Namespace, out: Path) -> float:
    """Wall seconds of ``python -m niah run`` (its progress bar goes to our stderr)."""
    cmd = [sys.executable, "-m", "niah", "run", str(args.config), "--out", str(out), "--fresh"]
    for key, value in overrides(args).items():
        if key == "grid.context_lengths":
            cmd += ["--lengths", ",".join(map(str, value))]
        else:
            cmd += ["--set", f"{key}={str(value).lower()}"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", type=Path, default=CONFIG)
    ap.add_argument("--threads", type=int,
                    help="n_threads and n_threads_batch (default: the config's)")
    ap.add_argument("--lengths", type=int, nargs="+", help="override grid.context_lengths")
    ap.add_argument("--cli", action="store_true", help="run `python -m niah run` instead")
    args = ap.parse_args()

    from niah.results import read_rows

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["NIAH_CACHE_DIR"] = str(Path(tmp) / "cache")  # cold, as on a fresh machine
        out = Path(tmp) / "run"
        if args.cli:
            wall, load = cli(args, out), 0.0
        else:
            wall, load = in_process(args, out)
        rows = read_rows(out)
    errors = [r for r in rows if r.error is not None]
    raws = [r.extra.get("raw") or {} for r in rows]
    model = sum(float(raw.get("eval_s", 0.0)) for raw in raws)
    prefill = sum(float(raw.get("prompt_eval_s", 0.0)) for raw in raws)
    computed = sum(int(raw.get("prompt_eval_tokens", 0)) for raw in raws)
    prompt = sum(r.usage.prompt_tokens or 0 for r in rows)
    found = sum(1 for r in rows if r.score == 1.0)
    harness = wall - model - load
    how = "`python -m niah run`" if args.cli else "niah.runner.run (in-process)"
    print(f"{args.config.name}: {len(rows)} trials ({len(errors)} errors), {how}, cold "
          f"corpus cache, {found}/{len(rows)} needles found")
    print(f"  wall time:             {wall:7.1f} s")
    print(f"  model eval (rows):     {model:7.1f} s   (prefill {prefill:.1f} s for {computed} of "
          f"{prompt} prompt tokens: {computed / max(prefill, 1e-9):.0f} tokens/s)")
    if not args.cli:
        print(f"  model load:            {load:7.1f} s")
    print(f"  harness (the rest):    {harness:7.1f} s")
    print(f"  harness overhead: {harness / wall:.1%} of the wall time (target <= 5%)"
          + ("" if args.cli else f"; {(harness + load) / wall:.1%} counting the model load"))


if __name__ == "__main__":
    main()
