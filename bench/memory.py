"""Peak memory of a run with four 10M-token prompts in flight, against 4 x the prompt.

    python bench/memory.py [--tokens 10M] [--compare /path/to/other/checkout] [--repeats 1]

A fake OpenAI-compatible server in its own process reads each request (about 40 MB
of JSON) and answers only once four requests have arrived, so all four are in flight
at once. The client is ``niah.runner.run`` in a fresh process: one length, four
depths, ``run.concurrency`` 4, response cache off, with a builder warmed first (the
corpus loaded and touched by one long prompt, built and dropped). Its peak resident
memory is reset after the warm-up (``/proc/self/clear_refs``), so the figure is what
the run itself adds: the prompts built, held and sent, against 4 x the size of one
prompt (its UTF-8 bytes). The whole process's peak is printed too. ``--compare`` runs
the same client from another checkout (e.g. main before this change), side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CORPUS = Path(os.environ.get("NIAH_BENCH_CORPUS", "/work/shared/corpora/gutenberg"))
IN_FLIGHT = 4
HERE = Path(__file__).resolve().parents[1]


def server_main(port_file: str) -> None:
    """Child: answer each request once IN_FLIGHT requests have been read (or after 600 s)."""
    arrived = threading.Semaphore(0)
    lock = threading.Lock()
    count = [0]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            left = int(self.headers["Content-Length"])
            while left:  # read and drop: this process's memory is not measured anyway
                left -= len(self.rfile.read(min(left, 1 << 20)))
            with lock:
                count[0] += 1
                if count[0] % IN_FLIGHT == 0:
                    for _ in range(IN_FLIGHT):
                        arrived.release()
            arrived.acquire(timeout=600)
            data = json.dumps({"id": "x", "choices": [{"index": 0, "finish_reason": "stop",
                               "message": {"role": "assistant", "content": "I don't know."}}],
                               "usage": {"prompt_tokens": 1, "completion_tokens": 4}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    Path(port_file).write_text(str(server.server_address[1]))
    server.serve_forever()


def rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def client_main(port: int, tokens: int, corpus: Path) -> None:
    """Child: warm a builder, reset the peak, run the grid, print the figures as JSON."""
    from niah import load_experiment
    from niah.haystack.builder import PromptBuilder
    from niah.plan import plan
    from niah.runner import run

    step = 100 / (IN_FLIGHT - 1)
    exp = load_experiment({
        "name": "memory", "tokenizer": "tiktoken:cl100k_base",
        "model": {"id": "openai-compatible/bench", "base_url": f"http://127.0.0.1:{port}/v1",
                  "context_window": tokens * 2},
        "haystack": {"kind": "files", "path": str(corpus)},
        "needles": [{"text": "The special magic number is {value}.",
                     "question": "What is the special magic number?",
                     "value": {"kind": "random_number", "digits": 7}}],
        "grid": {"context_lengths": [tokens],
                 "depth_percents": [round(i * step, 4) for i in range(IN_FLIGHT)]},
        "run": {"max_tokens": 16, "concurrency": IN_FLIGHT, "cache": False,
                "build_prompts": "inline"},
    })
    builder = PromptBuilder(exp, exp.model[0])
    small = plan(exp.model_copy(update={"grid": exp.grid.model_copy(
        update={"context_lengths": [1000]})}))[0]
    builder.corpus  # noqa: B018 - load the corpus (tokenized, repeated to the length)
    warm = builder.build(plan(exp)[-1])  # every page of the corpus touched, caches made
    del warm
    warm = builder.build(small)  # (a builder may keep the last prompt it built)
    del warm
    Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
    base = rss_kib("VmRSS")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        run(exp, Path(tmp) / "run", fresh=True, builder_factory=lambda e, m: builder)
    seconds = time.perf_counter() - t0
    peak = rss_kib("VmHWM")
    bp = builder.build(plan(exp)[0])
    size = sum(len(m["content"].encode()) for m in bp.messages)
    print(json.dumps({"base_kib": base, "peak_kib": peak, "prompt_bytes": size,
                      "seconds": seconds, "prompt_tokens": bp.prompt_tokens}))


def measure(checkout: Path, tokens: int, corpus: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(port_file)])
        try:
            while not port_file.exists() or not port_file.read_text():
                time.sleep(0.05)
            port = int(port_file.read_text())
            env = {**os.environ, "PYTHONPATH": str(checkout)}
            out = subprocess.run(
                [sys.executable, __file__, "--client", str(port), "--tokens", str(tokens),
                 "--corpus", str(corpus)],
                env=env, capture_output=True, text=True, check=True,
            )
        finally:
            server.kill()
            server.wait()
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", default="10M")
    parser.add_argument("--compare", type=Path, action="append", default=[])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--client", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        server_main(args.serve)
        return 0
    if not args.client:
        sys.path.insert(0, str(HERE))  # the client gets its checkout from PYTHONPATH
    from niah.fmt import parse_tokens

    tokens = parse_tokens(str(args.tokens))
    if args.client:
        client_main(args.client, tokens, args.corpus)
        return 0
    socket.setdefaulttimeout(None)
    print(f"{IN_FLIGHT} prompts of {tokens:,} tokens in flight (cl100k_base, "
          f"{args.corpus.name}), concurrency {IN_FLIGHT}", flush=True)
    for checkout in [HERE, *args.compare]:
        runs = [measure(checkout, tokens, args.corpus) for _ in range(args.repeats)]
        size = runs[0]["prompt_bytes"]
        added = [(r["peak_kib"] - r["base_kib"]) * 1024 / (IN_FLIGHT * size) for r in runs]
        total = [r["peak_kib"] * 1024 / (IN_FLIGHT * size) for r in runs]
        spread = f" (min {min(added):.2f}, max {max(added):.2f})" if len(runs) > 1 else ""
        r = runs[0]
        print(f"  {checkout!s:28s} prompt {size / 2**20:.1f} MiB; run added "
              f"{(r['peak_kib'] - r['base_kib']) / 1024:.0f} MiB = "
              f"{statistics.median(added):.2f}x of {IN_FLIGHT} prompts{spread}; whole process "
              f"peak {r['peak_kib'] / 1024:.0f} MiB = {statistics.median(total):.2f}x; "
              f"{r['seconds']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
