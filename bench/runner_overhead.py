"""Runner overhead: requests/s of ``niah run`` vs a bare httpx loop, in one run.

    python bench/runner_overhead.py [--lengths 1000 2000 ...] [--depths 100]
                                    [--concurrency 8] [--repeats 8]

A zero-latency OpenAI-compatible server runs in a child process (a raw asyncio
protocol with a canned answer, so it is never the bottleneck; its own capacity is
measured first with a raw-socket client). Then, alternately, ``repeats`` times:

* bare:  one shared ``httpx.AsyncClient`` (created inside the timing) sends the
  very bodies niah sends (built once, beforehand, with ``PromptBuilder`` and the
  backend's ``build_body``) with ``concurrency`` workers and parses each answer;
* niah run (default): ``niah.runner.run`` on the same grid through
  ``openai-compatible/...`` (cache off, a fresh run directory each time): building
  each prompt (in a child process, ``run.build_prompts: auto``), sending it,
  scoring, and appending a fsynced row, plus the run's own setup (plan, manifest,
  lock, preflight);
* niah run, build inline: the same with every prompt built in the event loop;
* niah run, prompts prebuilt: the same with prompts built beforehand, the runner's
  share alone.

This machine's speed drifts by a third from one second to the next, so each client
is run ``repeats`` times in turn and the median of the paired ratios (each niah run
against the bare run just before it) is the figure; best against best is printed too.
Target (issue 3): niah / bare >= 0.8x.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ANSWER = re.compile(rb"The special magic number is (\d+)\.")
NEEDLE = {"text": "The special magic number is {value}.",
          "question": "What is the special magic number?"}


# --- the server (child process) ------------------------------------------------------


class _Answer(asyncio.Protocol):
    """HTTP/1.1 keep-alive, POST with Content-Length only: exactly what httpx sends."""

    def __init__(self) -> None:
        self.buf = b""
        self.n = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].lower()
            match = re.search(rb"content-length:\s*(\d+)", head)
            size = int(match.group(1)) if match else 0
            if len(self.buf) < end + 4 + size:
                return
            body = self.buf[end + 4 : end + 4 + size]
            self.buf = self.buf[end + 4 + size :]
            self._reply(body)

    def _reply(self, body: bytes) -> None:
        self.n += 1
        found = ANSWER.search(body)
        text = f"The special magic number is {found.group(1).decode()}." if found else "No."
        data = json.dumps({
            "id": f"cmpl-{self.n}", "object": "chat.completion", "model": "bench",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": len(body) // 4, "completion_tokens": 8,
                      "total_tokens": len(body) // 4 + 8},
        }).encode()
        head = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                b"content-length: " + str(len(data)).encode() + b"\r\n\r\n")
        assert self.transport is not None
        self.transport.write(head + data)


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    async with server:
        await server.serve_forever()


def start_server() -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, __file__, "--serve"], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


# --- the three clients ---------------------------------------------------------------


class Clock:
    """Wall and CPU time of this process (the server runs in another one)."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def rates(self, n: int) -> tuple[float, float]:
        """(requests per wall second, requests per CPU second of the client)."""
        wall = time.perf_counter() - self.wall
        cpu = time.process_time() - self.cpu
        return n / wall, n / cpu


async def server_alone(port: int, bodies: Sequence[bytes], concurrency: int) -> float:
    """Requests/s with a raw-socket client: the server's capacity (a lower bound)."""
    queue = iter(bodies)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for body in queue:
            writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n"
                         b"content-type: application/json\r\ncontent-length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body)
            head = await reader.readuntil(b"\r\n\r\n")
            size = int(re.search(rb"content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
            await reader.readexactly(size)
        writer.close()
        await writer.wait_closed()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(bodies) / (time.perf_counter() - start)


async def bare_loop(
    url: str, bodies: Sequence[dict[str, Any]], concurrency: int
) -> tuple[float, float]:
    """Requests/s of the least a harness must do: post each body, parse the JSON."""
    import httpx

    from niah.backends._http import DEFAULT_TIMEOUT

    queue = iter(bodies)
    clock = Clock()  # creating the client counts, as niah's backend creates its own
    async with httpx.AsyncClient(timeout=DEFAULT_TIMEOUT) as client:

        async def worker() -> None:
            for body in queue:
                response = await client.post(url, json=body)
                response.raise_for_status()
                assert response.json()["choices"]

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return clock.rates(len(bodies))


class Prebuilt:
    """A builder that hands out prompts built beforehand: the runner's cost alone."""

    def __init__(self, builder: Any, trials: Sequence[Any]) -> None:
        self.tokenizer = builder.tokenizer
        self.prompts = {t.trial_id: builder.build(t) for t in trials}

    def build(self, trial: Any) -> Any:
        return self.prompts[trial.trial_id]


def niah_run(experiment: Any, n: int, prebuilt: Prebuilt | None = None) -> tuple[float, float]:
    """Rates of the whole ``niah.runner.run`` call into a fresh directory."""
    from niah.results import read_rows
    from niah.runner import run

    factory = None if prebuilt is None else (lambda _e, _m: prebuilt)
    with tempfile.TemporaryDirectory() as out:
        clock = Clock()
        run_dir = run(experiment, Path(out) / "run", fresh=True, builder_factory=factory)
        rates = clock.rates(n)
        rows = read_rows(run_dir)
    assert len(rows) == n and all(r.error is None and r.score == 1.0 for r in rows), rows[:1]
    return rates


# --- setup ---------------------------------------------------------------------------


def make_experiment(base_url: str, lengths: list[int], depths: int, concurrency: int,
                    build: str = "auto") -> Any:
    from niah import load_experiment

    return load_experiment({
        "name": "bench-runner", "tokenizer": "tiktoken:cl100k_base",
        "model": {"id": "openai-compatible/bench", "base_url": base_url},
        "haystack": {"kind": "generated", "seed": 0}, "needles": [NEEDLE],
        "grid": {"context_lengths": lengths,
                 "depth_percents": {"min": 0, "max": 100, "num": depths}},
        "run": {"concurrency": concurrency, "cache": False, "max_tokens": 32,
                "build_prompts": build},
    })


def request_bodies(experiment: Any) -> tuple[list[dict[str, Any]], Prebuilt]:
    """The JSON bodies niah sends for every trial, and its prompts, built once."""
    from niah.backends._body import materialize
    from niah.backends.openai_compatible import OpenAICompatibleBackend
    from niah.exchange import make_request
    from niah.haystack.builder import PromptBuilder
    from niah.plan import plan, prefix_order

    spec = experiment.model[0]
    trials = prefix_order(plan(experiment))
    prebuilt = Prebuilt(PromptBuilder(experiment, spec), trials)
    backend = OpenAICompatibleBackend(spec)
    bodies = []
    for trial in trials:
        bp = prebuilt.build(trial)
        request = make_request(experiment, bp, spec)  # exactly what niah sends
        bodies.append(materialize(backend.build_body(request)))  # plain strings for json=
    return bodies, prebuilt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lengths", type=int, nargs="+",
                    default=[1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000])
    ap.add_argument("--depths", type=int, default=100)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=8)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        asyncio.run(_serve())
        return
    os.environ.setdefault("NIAH_CACHE_DIR", tempfile.mkdtemp(prefix="niah-bench-"))
    proc, port = start_server()
    try:
        base_url = f"http://127.0.0.1:{port}/v1"
        exp = make_experiment(base_url, args.lengths, args.depths, args.concurrency)
        inline = make_experiment(base_url, args.lengths, args.depths, args.concurrency,
                                 "inline")
        bodies, prebuilt = request_bodies(exp)  # also warms the corpus cache and the tokenizer
        raw = [json.dumps(b).encode() for b in bodies]
        n = len(bodies)
        size = sum(map(len, raw)) / n / 1024
        alone = max(asyncio.run(server_alone(port, raw, args.concurrency))
                    for _ in range(args.repeats))
        url = f"{base_url}/chat/completions"
        clients = {
            "bare httpx loop": lambda: asyncio.run(bare_loop(url, bodies, args.concurrency)),
            "niah run (default)": lambda: niah_run(exp, n),
            "niah run, build inline": lambda: niah_run(inline, n),
            "niah run, prompts prebuilt": lambda: niah_run(inline, n, prebuilt),
        }
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in clients}
        for _ in range(args.repeats):  # alternating, so drift in the machine hits all alike
            for name, client in clients.items():
                runs[name].append(client())
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"grid: {n} trials ({len(args.lengths)} lengths {min(args.lengths)}-"
          f"{max(args.lengths)} tokens x {args.depths} depths), bodies {size:.1f} KiB on "
          f"average, concurrency {args.concurrency}, {args.repeats} alternating runs each")
    print(f"  server alone (raw sockets): {alone:6.0f} req/s (best)")
    bare = runs["bare httpx loop"]
    for name, rates in runs.items():
        wall = [w for w, _ in rates]
        ratio = [w / b for (w, _), (b, _) in zip(rates, bare, strict=True)]
        best_ratio = max(wall) / max(b for b, _ in bare)
        print(f"  {name:27s} median {statistics.median(wall):5.0f} req/s, best {max(wall):5.0f}"
              f"  {max(c for _, c in rates):5.0f} req/CPU-s   / bare: median of pairs "
              f"{statistics.median(ratio):.2f}x, best/best {best_ratio:.2f}x"
              f"   (runs: {', '.join(f'{x:.0f}' for x in wall)})")
    print("  target (issue 3): niah run (default) / bare >= 0.8x")


if __name__ == "__main__":
    main()
