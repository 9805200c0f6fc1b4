"""Several endpoints for one model: load spread, prefix affinity and KV-cache reuse.

    python bench/endpoints.py [--runs 5] [--skip-llama] [--lengths 400 800]
                              [--depths 50 100] [--repeats 2]

1. Three local fake OpenAI-compatible servers (``tests/fakes/endpoint_server.py``;
   an answer takes 5 ms plus 20 us per prompt word), a 4 x 5 x 2 grid at concurrency
   2 per server, ``--runs`` times, with niah's dispatch (prefix groups planned onto a
   home server) and with plain least-loaded dispatch. Printed: the busiest server's
   trials against an even share (target: at most 1.5x), and affinity, the share of
   trials answered by the server that answered most of their prefix group (1.0:
   every group stayed on one server).
2. Two ``python -m llama_cpp.server`` processes on SmolLM2-135M, one thread each, a
   tiny grid (below 1K tokens) three ways: one server; two with plain least-loaded
   dispatch; two with niah's. Reuse is the prompt tokens the servers took from their
   KV cache (the ``prefix-match hit`` lines of their logs) over all prompt tokens.
   The python server keeps one prompt's cache, so a trial reuses what it shares with
   the previous prompt on the same server.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NEEDLE = {"text": "The special magic number is {value}.",
          "question": "What is the special magic number?"}
HIT = re.compile(r"Llama\.generate: (\d+) prefix-match hit")


def experiment(model: dict[str, Any], lengths: list[int], depths: list[float], repeats: int,
               tokenizer: str = "tiktoken:cl100k_base", **run: Any) -> Any:
    from niah import load_experiment

    return load_experiment({
        "name": "bench-endpoints", "model": model, "tokenizer": tokenizer,
        "needles": [NEEDLE],
        "grid": {"context_lengths": lengths, "depth_percents": depths, "repeats": repeats},
        "run": {"cache": False, "max_tokens": 24, **run},
    })


def run_rows(exp: Any, plain: bool) -> list[Any]:
    """The rows of a fresh run; ``plain`` turns prefix groups off (least-loaded only:
    every trial its own group, none planned)."""
    from niah import endpoints
    from niah.results import read_rows
    from niah.runner import run_async

    planned, key = endpoints.EndpointPool.plan, endpoints.affinity_key
    if plain:
        endpoints.EndpointPool.plan = lambda self, trials: list(trials)  # type: ignore
        endpoints.affinity_key = lambda trial: trial.trial_id  # type: ignore
    try:
        with tempfile.TemporaryDirectory() as tmp:
            return read_rows(asyncio.run(run_async(exp, Path(tmp) / "out", fresh=True)))
    finally:
        endpoints.EndpointPool.plan, endpoints.affinity_key = planned, key  # type: ignore


def affinity(rows: list[Any], exp: Any) -> float:
    from niah.affinity import affinity_key
    from niah.plan import plan

    key_of = {t.trial_id: affinity_key(t) for t in plan(exp)}
    groups: dict[Any, Counter[str]] = defaultdict(Counter)
    for r in rows:
        groups[key_of[r.trial_id]][r.extra.get("endpoint", "")] += 1
    return sum(c.most_common(1)[0][1] for c in groups.values()) / len(rows)


def fake_servers(runs: int) -> None:
    from tests.fakes.endpoint_server import EndpointServer

    print("three fake servers, 4 lengths x 5 depths x 2 repeats, concurrency 2 each")
    for plain in (False, True):
        spreads, affinities = [], []
        for _ in range(runs):
            with ExitStack() as stack:
                servers = [stack.enter_context(EndpointServer(hold_s=0.005,
                                                              hold_per_word_s=2e-5))
                           for _ in range(3)]
                exp = experiment({"id": "openai-compatible/fake",
                                  "base_url": [s.base_url for s in servers]},
                                 [500, 1000, 1500, 2000], [0, 25, 50, 75, 100], 2,
                                 concurrency=2)
                rows = run_rows(exp, plain)
            counts = Counter(r.extra["endpoint"] for r in rows)
            spreads.append(max(counts.values()) / (len(rows) / 3))
            affinities.append(affinity(rows, exp))
        label = "least-loaded" if plain else "niah (affinity)"
        print(f"  {label:16} busiest/share {min(spreads):.2f}-{max(spreads):.2f}  "
              f"affinity {min(affinities):.2f}-{max(affinities):.2f}  ({runs} runs)")


def llama(lengths: list[int], depths: list[float], repeats: int) -> None:
    from niah.gguf import embedded_gguf
    from tests.fakes.llama_server import llama_server, server_available

    reason = server_available()
    if reason:
        print(f"llama.cpp server: skipped ({reason})")
        return
    gguf = embedded_gguf()
    print(f"two llama_cpp.server endpoints (SmolLM2-135M, 1 thread), lengths {lengths}, "
          f"depths {depths}, repeats {repeats}")
    for label, servers, plain in (("one server", 1, False), ("two, least-loaded", 2, True),
                                  ("two, niah (affinity)", 2, False)):
        with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
            logs = [Path(tmp) / f"server{i}.log" for i in range(servers)]
            urls = [stack.enter_context(llama_server(gguf, n_ctx=1200, log_path=log))
                    for log in logs]
            model = {"id": "openai-compatible/smollm2",
                     "endpoints": [{"base_url": u, "concurrency": 1} for u in urls]}
            exp = experiment(model, lengths, depths, repeats, tokenizer=f"llamacpp:{gguf}",
                             max_retries=1)
            started = time.perf_counter()
            rows = run_rows(exp, plain)
            wall = time.perf_counter() - started
            reused = sum(int(m) for log in logs for m in HIT.findall(log.read_text()))
        total = sum(r.usage.prompt_tokens or 0 for r in rows)
        found = sum(r.score == 1.0 for r in rows)
        print(f"  {label:21} reuse {reused / total:.3f} ({reused}/{total} prompt tokens)  "
              f"found {found}/{len(rows)}  affinity {affinity(rows, exp):.2f}  "
              f"wall {wall:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-llama", action="store_true")
    parser.add_argument("--lengths", type=int, nargs="+", default=[400, 800])
    parser.add_argument("--depths", type=float, nargs="+", default=[50, 100])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    fake_servers(args.runs)
    if not args.skip_llama:
        llama(args.lengths, args.depths, args.repeats)


if __name__ == "__main__":
    main()
