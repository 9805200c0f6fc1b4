"""A fake OpenAI-compatible ``/v1/embeddings`` server on 127.0.0.1, over a real socket.

Vectors are deterministic: a hashed bag of words (each lower-case word adds 1 at
``md5(word) % dimensions``), so texts sharing words are near, as with a real model.
``script`` forces the status of the first requests (``None`` answers normally);
``wrong_dimensions`` answers every vector one element short.

    with FakeEmbeddingsServer() as srv:
        EmbeddingsClient(EmbeddingsSpec(base_url=srv.base_url)).embed(["a", "b"])
        srv.requests, srv.texts  # requests answered, texts embedded
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fakes.loopback import LoopbackServer

_WORD = re.compile(r"[a-z0-9]+")


def bag_of_words(text: str, dimensions: int) -> list[float]:
    vec = [0.0] * dimensions
    for word in _WORD.findall(text.lower()):
        vec[int(hashlib.md5(word.encode()).hexdigest(), 16) % dimensions] += 1.0
    return vec


class FakeEmbeddingsServer(LoopbackServer):
    def __init__(self, dimensions: int = 64, script: list[int | None] | None = None,
                 wrong_dimensions: bool = False) -> None:
        self.dimensions = dimensions
        self.script = list(script or [])
        self.wrong_dimensions = wrong_dimensions
        self.requests = 0
        self.texts = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, payload = server.answer(self.path, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._serve(ThreadingHTTPServer(("127.0.0.1", 0), Handler))
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests += 1
            forced = self.script.pop(0) if self.script else None
        if path != "/v1/embeddings":
            return 404, {"error": {"message": f"no route {path}"}}
        if forced is not None:
            return forced, {"error": {"message": f"scripted {forced}"}}
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        with self._lock:
            self.texts += len(texts)
        size = self.dimensions - 1 if self.wrong_dimensions else self.dimensions
        data = [{"object": "embedding", "index": i, "embedding": bag_of_words(t, size)}
                for i, t in enumerate(texts)]
        return 200, {"object": "list", "data": data, "model": body.get("model")}
