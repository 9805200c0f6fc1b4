"""A real llama.cpp OpenAI-compatible server on 127.0.0.1 for integration tests.

    with llama_server(gguf_path) as base_url:      # "http://127.0.0.1:PORT/v1"
        backend = OpenAICompatibleBackend(ModelSpec(id="openai-compatible/m",
                                                    base_url=base_url))

It runs ``python -m llama_cpp.server`` (which keeps the last prompt's prefix in its
KV cache) with one thread, so it stays polite on a shared 2-core machine. Run as a
script, this file is the launcher: on CPUs advertising AMX it first turns off
llama.cpp's extra weight buffers (see ``LlamaCppOptions.extra_buffers``), which the
server offers no flag for, then starts the server.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx

SERVER_MODULE = "llama_cpp.server"


def server_available() -> str | None:
    """None if the server can start here, else the reason (for ``pytest.skip``)."""
    try:
        import llama_cpp.server.app  # noqa: F401
    except ImportError as exc:
        return f"llama_cpp.server cannot be imported ({exc.name} missing)"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _ready(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/models", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def llama_server(
    model: str | Path, *, n_ctx: int = 4096, threads: int = 1, startup_timeout_s: float = 60.0,
    log_path: Path | None = None, logits_all: bool = False, embedding: bool = False,
) -> Iterator[str]:
    """Start the server, yield its base URL, and stop it (killing it if it hangs).

    The server's output (``Llama.generate: N prefix-match hit`` per request) goes to
    ``log_path`` when given."""
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    cmd = [
        sys.executable, __file__,
        "--model", str(model), "--host", "127.0.0.1", "--port", str(port),
        "--n_threads", str(threads), "--n_threads_batch", str(threads),
        "--n_ctx", str(n_ctx), "--logits_all", str(logits_all).lower(),
        *(["--embedding", "true"] if embedding else []),
    ]
    with open(log_path, "w+") if log_path else tempfile.TemporaryFile("w+") as log:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + startup_timeout_s
            while not _ready(base_url):
                if proc.poll() is not None:
                    raise RuntimeError(f"llama server exited ({proc.returncode}): {_tail(log)}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"llama server not ready in {startup_timeout_s:.0f}s")
                time.sleep(0.2)
            yield base_url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _tail(log: IO[str], lines: int = 5) -> str:
    log.flush()
    log.seek(0)
    return " | ".join(log.read().strip().splitlines()[-lines:])


def _main() -> None:
    import runpy

    from niah.backends.llamacpp import amx_advertised

    if amx_advertised():
        import llama_cpp.llama_cpp as lib

        defaults = lib.llama_model_default_params

        def without_extra_buffers() -> object:
            params = defaults()
            params.use_extra_bufts = False
            return params

        lib.llama_model_default_params = without_extra_buffers
    runpy.run_module(SERVER_MODULE, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    _main()
