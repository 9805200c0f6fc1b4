"""Prefill tokens actually computed: naive grid order vs niah's prefix order.

    python bench/prefix_order.py [--threads 2] [--lengths 1000 2000 3000] [--depths 5]
    python bench/prefix_order.py --server http://127.0.0.1:8080/v1   # llama-server, SmolLM2

The same grid is sent twice, one request at a time, each time to a fresh model
(an empty KV cache): first in ``niah.plan.plan`` order (lengths, then depths), then
in ``niah.plan.prefix_order`` (what ``niah run`` does). A single-slot KV cache keeps
the longest common token prefix of consecutive prompts, so only the rest is
computed. Computed tokens come from the embedded backend's counters
(``LlamaCppBackend.stats.prompt_eval_tokens``) or, with ``--server``, from
llama-server's ``timings.prompt_n`` (the C++ server: start it with ``-np 1``; the
Python ``llama_cpp.server`` reports no timings). The server's cache is flushed
before each order by an unrelated prompt. Prompts are built before the clock starts.

Target (issue 3): niah's order computes <= 0.55x the tokens of the naive order.
The naive order already reuses each prompt's prefix up to the previous needle, so
the script also prints the bound no order can beat: every prompt recomputed from its
first needle on, except the first, recomputed whole.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from niah.tokenizers import Tokenizer

NEEDLE = {"text": "The special magic number is {value}.",
          "question": "What is the special magic number?",
          "value": {"kind": "random_number", "digits": 7}}


@dataclass
class Tally:
    prompt_tokens: int = 0
    computed: int = 0
    wall_s: float = 0.0
    correct: int = 0


def make_experiment(lengths: list[int], depths: int, threads: int, max_tokens: int) -> Any:
    from niah import load_experiment

    return load_experiment({
        "name": "bench-prefix", "tokenizer": "auto",
        "model": {"id": "llamacpp/smollm2-135m",
                  "options": {"n_threads": threads, "n_threads_batch": threads}},
        "haystack": {"kind": "generated", "seed": 0}, "needles": [NEEDLE],
        "grid": {"context_lengths": lengths,
                 "depth_percents": {"min": 0, "max": 100, "num": depths}},
        "run": {"max_tokens": max_tokens, "cache": False},
    })


def requests(experiment: Any) -> dict[str, tuple[Any, Any]]:
    """(request, built prompt) per trial id, built once as the runner builds them."""
    from niah.backends.base import Message, Request
    from niah.haystack.builder import PromptBuilder
    from niah.plan import plan

    builder = PromptBuilder(experiment, experiment.model[0])
    run = experiment.run
    out = {}
    for trial in plan(experiment):
        bp = builder.build(trial)
        out[trial.trial_id] = (
            Request(messages=[Message.model_validate(m) for m in bp.messages],
                    max_tokens=run.max_tokens, temperature=run.temperature,
                    seed=experiment.seed, prompt_tokens=bp.prompt_tokens),
            bp,
        )
    return out


def before_needle(bp: Any, tokenizer: Tokenizer) -> int:
    """Prompt tokens before the first needle: the most a prefix cache can reuse.

    Chat markup is counted as the builder estimates it (a few tokens per message).
    """
    from niah.haystack.builder import CHAT_OVERHEAD_PER_MESSAGE

    count = 0
    for message in bp.messages:
        count += CHAT_OVERHEAD_PER_MESSAGE
        at = message["content"].find(bp.context)
        if at >= 0:
            count += tokenizer.count(message["content"][:at])
            break
        count += tokenizer.count(message["content"])
    return count + int(min(n.token_offset for n in bp.needles))


def _found(bp: Any, text: str) -> bool:
    return all(n.answer in text for n in bp.needles)


async def embedded(experiment: Any, order: Sequence[Any], built: dict[str, Any]) -> Tally:
    """One fresh in-process model for this order; counts from its own counters."""
    from niah.backends.llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(experiment.model[0])
    largest = max(req.prompt_tokens for req, _ in built.values())
    await backend.prepare(largest, experiment.run.max_tokens)  # loads the model, untimed
    tally = Tally()
    try:
        start = time.perf_counter()
        for trial in order:
            request, bp = built[trial.trial_id]
            completion = await backend.generate(request)
            tally.correct += _found(bp, completion.text)
        tally.wall_s = time.perf_counter() - start
    finally:
        await backend.aclose()
    tally.prompt_tokens = backend.stats.prompt_tokens
    tally.computed = backend.stats.prompt_eval_tokens
    return tally


async def server(base_url: str, order: Sequence[Any], built: dict[str, Any]) -> Tally:
    """Send to a running llama-server; counts from its ``timings``."""
    from niah.backends.base import Message, Request
    from niah.backends.openai_compatible import OpenAICompatibleBackend
    from niah.config import ModelSpec

    backend = OpenAICompatibleBackend(ModelSpec(id="openai-compatible/bench",
                                                base_url=base_url))
    flush = Request(messages=[Message(role="user", content=f"Say {uuid.uuid4().hex}.")],
                    max_tokens=1)
    tally = Tally()
    try:
        await backend.generate(flush)  # evicts the previous order's prefix
        start = time.perf_counter()
        for trial in order:
            request, bp = built[trial.trial_id]
            completion = await backend.generate(request)
            timings = (completion.raw or {}).get("timings")
            if not isinstance(timings, dict) or "prompt_n" not in timings:
                raise SystemExit(f"{base_url} reports no timings.prompt_n: use the C++ "
                                 "llama-server, not llama_cpp.server")
            tally.computed += int(timings["prompt_n"])
            tally.prompt_tokens += int(timings["prompt_n"]) + int(timings.get("cache_n", 0))
            tally.correct += _found(bp, completion.text)
        tally.wall_s = time.perf_counter() - start
    finally:
        await backend.aclose()
    return tally


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2,
                    help="n_threads and n_threads_batch of the embedded model")
    ap.add_argument("--lengths", type=int, nargs="+", default=[1000, 2000, 3000])
    ap.add_argument("--depths", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--server", metavar="BASE_URL",
                    help="a running llama-server (-np 1) instead of the embedded model")
    args = ap.parse_args()

    from niah.plan import plan, prefix_order

    exp = make_experiment(args.lengths, args.depths, args.threads, args.max_tokens)
    built = requests(exp)
    naive = plan(exp)
    ours = prefix_order(plan(exp))
    if args.server:
        where = f"llama-server at {args.server}"
        tallies = [asyncio.run(server(args.server, o, built)) for o in (naive, ours)]
    else:
        where = f"embedded SmolLM2-135M, {args.threads} thread(s)"
        tallies = [asyncio.run(embedded(exp, o, built)) for o in (naive, ours)]
    print(f"grid: {len(naive)} trials ({', '.join(map(str, args.lengths))} tokens x "
          f"{args.depths} depths), {where}, max_tokens {args.max_tokens}")
    for name, t in zip(("naive grid order", "niah prefix order"), tallies, strict=True):
        print(f"  {name:18s} prefill computed {t.computed:7d} of {t.prompt_tokens:7d} prompt "
              f"tokens   wall {t.wall_s:7.1f} s   found {t.correct}/{len(naive)}")
    first, second = tallies
    from niah.tokenizers import tokenizer_for

    tokenizer = tokenizer_for(exp, exp.model[0])
    before = [before_needle(bp, tokenizer) for _, bp in built.values()]
    best = first.prompt_tokens - sum(before) + max(before)
    print(f"  best any order can do: ~{best} (a prompt can reuse at most the tokens before "
          "its needle; the first reuses nothing)")
    print(f"  ratio niah / naive: {second.computed / first.computed:.2f}x prefill tokens "
          f"(target <= 0.55x), {second.wall_s / first.wall_s:.2f}x wall time; "
          f"niah / no prefix reuse: {second.computed / second.prompt_tokens:.2f}x; "
          f"best / naive: {best / first.computed:.2f}x")


if __name__ == "__main__":
    main()
