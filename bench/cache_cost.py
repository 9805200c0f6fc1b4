"""What provider prompt caching saves on a grid, billed by fakes that cache as documented.

    python bench/cache_cost.py [--lengths 1K 199K] [--num 10] [--depths 10] [--repeats 3]

A 10 x 10 grid (lengths 1K-199K, depths 0-100%; 199K so the prompt fits a 200K
window) runs through ``niah.runner.run``, in niah's order, against two local fakes:

* an Anthropic Messages server that caches as Anthropic documents it: an entry per
  ``cache_control`` block (the hash of the prefix ending there), only for prefixes of
  at least ``--min-tokens``; a lookup checks each breakpoint, last first, and walks
  back 20 blocks for an entry an earlier request wrote; an entry is usable once its
  request starts answering and lives 5 minutes from its last use; at most 4
  breakpoints. Billed like the real API: the highest hit at 0.1x the input price,
  from there to the last breakpoint as a write at 1.25x, the rest at 1x (Claude
  Sonnet 4.5: $3 input, $3.75 write, $0.30 read, $15 output per MTok).
  Where the docs are silent (does a breakpoint below the highest hit write its
  entry?) the default reads "each breakpoint writes one entry"; ``strict`` (shown
  too) writes only the breakpoints above the hit.
* an OpenAI Chat Completions server with automatic caching: per ``prompt_cache_key``
  one machine that keeps every prompt it served; a prompt of 1024+ tokens reads its
  longest common prefix with them, in 128-token steps (gpt-4.1: $2 input, $0.50
  cached, $8 output per MTok). No overflow to other machines is modelled.

Both fakes count one token per 4 bytes of text (cl100k averages about 4.2 on this
corpus) and take time to answer in proportion to the tokens they compute, so
requests in flight together cannot see each other's cache writes, as on the real
APIs. Each setting runs once with ``run.concurrency`` 1 and ``--repeats`` times with 4
(median, min-max), Anthropic once with 8 too. The bound is what no order or caching
scheme can beat: every prompt reads its text before the first needle at 0.1x (0.25x
OpenAI) and pays the rest, and the first prompt reads nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CORPUS = Path(os.environ.get("NIAH_BENCH_CORPUS", "/work/shared/corpora/gutenberg"))
NEEDLE = re.compile(r"The special magic number is (\d+)\.")
KEY_ENV = "NIAH_BENCH_FAKE_KEY"  # a placeholder the fakes accept; no real key is used
TTL_S = 300.0
LOOKBACK = 20
COMPUTE_TOKENS_PER_S = 4_000_000
PRICES = {  # USD per MTok: input, cache write, cache read, output
    "anthropic": (3.00, 3.75, 0.30, 15.00),
    "openai": (2.00, 2.00, 0.50, 8.00),
}


def tokens(text: str) -> int:
    return len(text.encode()) // 4


@dataclass
class Bill:
    fresh: int = 0
    written: int = 0
    read: int = 0
    output: int = 0
    requests: int = 0

    def usd(self, provider: str) -> float:
        i, w, r, o = PRICES[provider]
        return (self.fresh * i + self.written * w + self.read * r + self.output * o) / 1e6

    def uncached_usd(self, provider: str) -> float:
        """The same tokens with nothing cached (OpenAI caches even without a key)."""
        i, _, _, o = PRICES[provider]
        return ((self.fresh + self.written + self.read) * i + self.output * o) / 1e6


@dataclass
class Cache:
    strict: bool = False
    min_tokens: int = 1024
    lock: threading.Lock = field(default_factory=threading.Lock)
    entries: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Anthropic: prefix hash -> (usable from, last used)."""
    prompts: dict[str, list[str]] = field(default_factory=dict)
    """OpenAI: routing key -> prompts served."""
    bill: Bill = field(default_factory=Bill)


def _blocks(body: dict[str, Any]) -> list[tuple[str, bool]]:
    """(text, has cache_control) of every block, in cache order: system, messages."""
    out: list[tuple[str, bool]] = []

    def add(content: Any, prefix: str) -> None:
        if isinstance(content, str):
            out.append((prefix + content, False))
            return
        for i, block in enumerate(content or []):
            out.append(((prefix if i == 0 else "") + block["text"], "cache_control" in block))

    add(body.get("system", ""), "system:")
    for message in body["messages"]:
        add(message["content"], f"\x00{message['role']}:")
    return out


def anthropic_usage(cache: Cache, body: dict[str, Any], now: float) -> tuple[dict[str, int], int]:
    """Usage of one request as Anthropic bills it, and the tokens it computes."""
    blocks = _blocks(body)
    marks = [i for i, (_, marked) in enumerate(blocks) if marked]
    if len(marks) > 4:
        raise ValueError("more than 4 cache_control blocks")
    h = hashlib.sha256()
    hashes, ends, total = [], [], 0
    for text, _ in blocks:
        h.update(text.encode() + b"\x01")
        hashes.append(h.hexdigest())
        total += tokens(text)
        ends.append(total)
    with cache.lock:
        for key in [k for k, (_, used) in cache.entries.items() if now - used > TTL_S]:
            del cache.entries[key]
        hit = -1
        for mark in reversed(marks):  # the last breakpoint first, 20 positions back each
            for pos in range(mark, max(mark - LOOKBACK, -1), -1):
                entry = cache.entries.get(hashes[pos])
                if entry is not None and entry[0] <= now:
                    hit = pos
                    break
            if hit >= 0:
                break
        read = ends[hit] if hit >= 0 else 0
        if hit >= 0:
            cache.entries[hashes[hit]] = (cache.entries[hashes[hit]][0], now)
        top = max((ends[m] for m in marks if ends[m] >= cache.min_tokens), default=0)
        written = max(0, top - read)
        ready = now + (total - read) / COMPUTE_TOKENS_PER_S  # once it starts answering
        for m in marks:
            writes = ends[m] >= cache.min_tokens and (m > hit or not cache.strict)
            if writes and hashes[m] not in cache.entries:
                cache.entries[hashes[m]] = (ready, ready)
        fresh = total - read - written
    return ({"input_tokens": fresh, "cache_read_input_tokens": read,
             "cache_creation_input_tokens": written}, total - read)


def _common(a: str, b: str) -> int:
    """Length of the longest common prefix of two strings (by character, bisected)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def openai_usage(cache: Cache, body: dict[str, Any], now: float) -> tuple[dict[str, Any], int]:
    text = "".join(f"\x00{m['role']}:{m['content']}" for m in body["messages"])
    total = tokens(text)
    key = body.get("prompt_cache_key") or ""
    with cache.lock:
        served = cache.prompts.setdefault(key, [])
        common = max((_common(p, text) for p in served), default=0)
        read = tokens(text[:common]) // 128 * 128 if total >= 1024 else 0
        read = read if read >= 1024 else 0
        served.append(text)
    return ({"prompt_tokens": total, "prompt_tokens_details": {"cached_tokens": read}},
            total - read)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        cache: Cache = self.server.cache  # type: ignore[attr-defined]
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        values = NEEDLE.findall(json.dumps(body["messages"][-1]))
        answer = f"The special magic number is {values[-1]}." if values else "I don't know."
        now = time.monotonic()
        anthropic = self.path.endswith("/messages")
        if anthropic:
            usage, computed = anthropic_usage(cache, body, now)
        else:
            usage, computed = openai_usage(cache, body, now)
        time.sleep(computed / COMPUTE_TOKENS_PER_S)
        out = tokens(answer) + 1
        with cache.lock:
            bill = cache.bill
            bill.requests += 1
            bill.output += out
            if anthropic:
                bill.fresh += usage["input_tokens"]
                bill.read += usage["cache_read_input_tokens"]
                bill.written += usage["cache_creation_input_tokens"]
            else:
                read = usage["prompt_tokens_details"]["cached_tokens"]
                bill.read += read
                bill.fresh += usage["prompt_tokens"] - read
        if anthropic:
            payload: dict[str, Any] = {
                "id": "msg_fake", "type": "message", "role": "assistant",
                "content": [{"type": "text", "text": answer}], "stop_reason": "end_turn",
                "usage": {**usage, "output_tokens": out}}
        else:
            payload = {"id": "chatcmpl-fake", "choices": [{
                "index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": answer}}],
                "usage": {**usage, "completion_tokens": out}}
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serve(cache: Cache) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.cache = cache  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


def experiment(provider: str, url: str, args: argparse.Namespace, prompt_cache: str,
               concurrency: int) -> Any:
    from niah import load_experiment

    model = {"anthropic": "anthropic/claude-sonnet-4-5", "openai": "openai/gpt-4.1"}[provider]
    return load_experiment({
        "name": f"cache-{provider}", "model": {"id": model, "base_url": url,
                                               "api_key_env": KEY_ENV},
        "tokenizer": "tiktoken:cl100k_base",
        "haystack": {"kind": "files", "path": str(args.corpus)},
        "needles": [{"text": "The special magic number is {value}.",
                     "question": "What is the special magic number?",
                     "value": {"kind": "random_number", "digits": 7}}],
        "grid": {"context_lengths": {"min": args.lengths[0], "max": args.lengths[1],
                                     "num": args.num},
                 "depth_percents": {"min": 0, "max": 100, "num": args.depths}},
        "run": {"max_tokens": 32, "concurrency": concurrency, "cache": False,
                "prompt_cache": prompt_cache, "build_prompts": "inline"},
    })


def run_once(provider: str, args: argparse.Namespace, prompt_cache: str, concurrency: int,
             strict: bool = False) -> tuple[float, float, float]:
    """(server's bill in USD, the bill had nothing been cached, recall) of one run."""
    from niah.analysis import load_results, summarize
    from niah.runner import run

    cache = Cache(strict=strict, min_tokens=1024)
    server = serve(cache)
    prefix = "/v1"
    url = f"http://127.0.0.1:{server.server_address[1]}{prefix}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            exp = experiment(provider, url, args, prompt_cache, concurrency)
            run_dir = run(exp, Path(tmp) / "run", fresh=True)
            summary = summarize(load_results(run_dir)).iloc[0]
    finally:
        server.shutdown()
        server.server_close()
    bill = cache.bill
    return bill.usd(provider), bill.uncached_usd(provider), float(summary["recall"])


def bound(provider: str, args: argparse.Namespace) -> float:
    """Cost with every prompt reading its whole text before the first needle, but the
    first prompt's, over the cost with none, from the prompts niah builds."""
    from niah.haystack.builder import PromptBuilder
    from niah.plan import plan, prefix_order

    exp = experiment(provider, "http://127.0.0.1:1/v1", args, "off", 1)
    builder = PromptBuilder(exp)
    i, _, r, _ = PRICES[provider]
    best = full = 0.0
    for n, trial in enumerate(prefix_order(plan(exp))):
        bp = builder.build(trial)
        start = bp.context_span[0]
        first = min(bp.messages[-1]["content"].find(x.text, start) for x in bp.needles)
        total = tokens("".join(m["content"] for m in bp.messages))
        shared = tokens(bp.messages[-1]["content"][:first]) if n else 0
        best += shared * r + (total - shared) * i
        full += total * i
    return best / full


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", nargs=2, default=["1K", "199K"])
    parser.add_argument("--num", type=int, default=10)
    parser.add_argument("--depths", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args()
    os.environ.setdefault(KEY_ENV, "not-a-key")
    print(f"grid: {args.num} lengths {args.lengths[0]}-{args.lengths[1]} x {args.depths} depths,"
          f" niah's prefix order; fakes bill 1 token per 4 bytes", flush=True)
    for provider in ("anthropic", "openai"):
        _, base, _ = run_once(provider, args, "off", 1)
        print(f"{provider}: the grid uncached ${base:.2f}; bound {bound(provider, args):.3f}x",
              flush=True)
        settings = [("auto", 1, False, 1), ("auto", 4, False, args.repeats)]
        if provider == "anthropic":
            settings += [("auto", 8, False, 1), ("auto", 4, True, 1)]
        else:  # OpenAI caches without being asked: what the key changes
            settings.append(("off", 4, False, 1))
        for prompt_cache, concurrency, strict, repeats in settings:
            ratios, recalls = [], []
            t0 = time.perf_counter()
            for _ in range(repeats):
                usd, uncached, recall = run_once(provider, args, prompt_cache, concurrency,
                                                 strict)
                ratios.append(usd / uncached)
                recalls.append(recall)
            spread = (f" (min {min(ratios):.3f}, max {max(ratios):.3f}, n={repeats})"
                      if repeats > 1 else "")
            label = f"prompt_cache {prompt_cache}, concurrency {concurrency}" + (
                ", strict reading" if strict else "")
            print(f"  billed / uncached, {label:48s} {statistics.median(ratios):.3f}x{spread}"
                  f"  recall {min(recalls):.2f}, {time.perf_counter() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
