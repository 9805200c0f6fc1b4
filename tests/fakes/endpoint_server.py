"""A small OpenAI-compatible server for multi-endpoint tests, over real HTTP on 127.0.0.1.

It answers every needle value in the prompt (as ``FakeOpenAIServer`` does) and adds
what endpoint tests need to observe and provoke:

* ``arrivals``: the monotonic time, needle values and in-flight count of every request;
* ``hold_s``: each answer waits this long (so requests overlap), ``hold_per_word_s``
  more per prompt word (so long prompts take longer, as on a real server);
* ``capacity``: requests beyond this many at once get a 429 without any wait hint
  (a server with a fixed capacity, for AIMD);
* ``retry_after``: the first request gets a 429 with ``Retry-After`` of this many
  seconds; ``rate_limited_at`` is when it was sent;
* ``die_after``: after that many answers the server dies: open connections are cut
  and new ones refused (``kill()`` does the same at any time).

    with EndpointServer(hold_s=0.01) as a, EndpointServer() as b:
        model = {"id": "openai-compatible/m", "base_url": [a.base_url, b.base_url]}
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

NEEDLE = re.compile(r"The special magic number is (\S+?)\.")


@dataclass(frozen=True)
class Arrival:
    at: float
    values: tuple[str, ...]
    inflight: int
    """Requests being handled when this one arrived, itself included."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: EndpointServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.owner = owner

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # cut connections are part of the tests


class EndpointServer:
    def __init__(self, *, hold_s: float = 0.0, hold_per_word_s: float = 0.0,
                 capacity: int | None = None, retry_after: float | None = None,
                 die_after: int | None = None) -> None:
        self.hold_s = hold_s
        self.hold_per_word_s = hold_per_word_s
        self.capacity = capacity
        self.retry_after = retry_after
        self.die_after = die_after
        self.arrivals: list[Arrival] = []
        self.answered = 0
        self.rejected = 0
        self.rate_limited_at: float | None = None
        self.dead = threading.Event()
        self._inflight = 0
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._answered_values: list[str] = []
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> EndpointServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()

    def kill(self) -> None:
        """Stop listening and cut every open connection (idempotent)."""
        if self.dead.is_set():
            return
        self.dead.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)

    def values(self) -> list[str]:
        """Every needle value this server answered (one per answered trial)."""
        with self._lock:
            return list(self._answered_values)

    def _arrive(self, values: tuple[str, ...]) -> tuple[Arrival, str | None]:
        with self._lock:
            self._inflight += 1
            arrival = Arrival(time.monotonic(), values, self._inflight)
            self.arrivals.append(arrival)
            if self.dead.is_set():
                return arrival, "dead"
            if self.retry_after is not None and self.rate_limited_at is None:
                self.rate_limited_at = arrival.at
                return arrival, "retry_after"
            if self.capacity is not None and self._inflight > self.capacity:
                self.rejected += 1
                return arrival, "over_capacity"
            return arrival, None

    def _leave(self, values: tuple[str, ...] | None) -> None:
        with self._lock:
            self._inflight -= 1
            if values is not None:
                self.answered += 1
                self._answered_values.extend(values)
            die = self.die_after is not None and self.answered >= self.die_after
        if die:
            threading.Thread(target=self.kill, daemon=True).start()



class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        owner = self._owner
        with owner._lock:
            owner._conns.add(self.connection)

    def finish(self) -> None:
        with self._owner._lock:
            self._owner._conns.discard(self.connection)
        super().finish()

    @property
    def _owner(self) -> EndpointServer:
        assert isinstance(self.server, _Server)
        return self.server.owner

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        owner = self._owner
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
        values = tuple(dict.fromkeys(NEEDLE.findall(prompt)))
        _, fault = owner._arrive(values)
        answered: tuple[str, ...] | None = None
        try:
            if fault == "dead":
                self.close_connection = True
                return
            if fault is not None:
                headers = {}
                if fault == "retry_after":
                    headers["Retry-After"] = f"{owner.retry_after:g}"
                    owner.rate_limited_at = time.monotonic()
                error = {"error": {"message": "Rate limit reached", "code": "rate_limit"}}
                self._reply(429, error, headers)
                return
            words = len(prompt.split())
            if owner.dead.wait(owner.hold_s + owner.hold_per_word_s * words):
                self.close_connection = True  # killed while holding: the client sees a drop
                return
            text = (f"The special magic number is {', '.join(values)}." if values
                    else "I don't know.")
            self._reply(200, {
                "id": "cmpl-endpoint", "object": "chat.completion", "model": body.get("model"),
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": words, "completion_tokens": len(text.split()),
                          "total_tokens": words + len(text.split())},
            })
            answered = values
        finally:
            owner._leave(answered)

    def _reply(self, status: int, payload: dict[str, Any],
               headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            self.close_connection = True
