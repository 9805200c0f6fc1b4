"""A fake model server over real HTTP on 127.0.0.1, with injectable faults.

It speaks three protocols, chosen by the request path (``style`` only picks
``base_url``), so every HTTP backend can be tested over a real socket:

    POST /v1/chat/completions, /v1/completions      OpenAI (and compatible servers)
    POST /v1/messages                               Anthropic
    POST /v1beta/models/{model}:generateContent     Gemini

Answer rule: every value in the prompt matching ``needle_pattern`` (group 1) is
answered as ``answer_template`` (several values are joined with ", "); with none,
"I don't know."; or ``reply(prompt text)`` when given (a fake LLM judge). Usage
counts are ``len(text.split())``.

Faults: each request draws from ``random.Random(seed)``; with probability ``rate``
it gets one of ``kinds`` (the draws depend only on the order of requests). A
``script`` forces the fault (or ``None`` for a normal answer) of the first requests.
``ANSWER_FAULTS`` (empty replies, replies cut after thinking) are injected only when
named in ``kinds`` or ``script``.

    with FakeOpenAIServer(faults=FaultConfig(rate=0.3, seed=1)) as srv:
        backend = OpenAICompatibleBackend(ModelSpec(id="openai-compatible/m",
                                                    base_url=srv.base_url))
        ...
        srv.stats  # Counter: "requests", "ok" and one count per fault kind
"""

from __future__ import annotations

import json
import random
import re
import socket
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, NamedTuple

FAULT_KINDS = (
    "rate_limit",  # 429 with Retry-After (and retry-after-ms)
    "rate_limit_no_header",  # 429 without any retry hint
    "server_error",  # 500
    "bad_gateway",  # 502
    "unavailable",  # 503
    "overloaded",  # 529, Anthropic's overloaded_error
    "slow",  # a normal answer after sleeping ``slow_delay_s``
    "drop",  # headers and half the body, then the socket is closed
    "malformed_json",  # 200 with a truncated JSON body
    "empty_choices",  # 200 with no choices / no content list / no candidates
    "context_length",  # 400 in the provider's context-too-long format
    "unauthorized",  # 401
)
ANSWER_FAULTS = (
    "empty_reply",  # 200, a normal stop with empty text
    "thinking_cutoff",  # 200, stopped by the token limit after thinking, no text
)
"""Well-formed answers without text, as each provider sends them: niah records each
once (an ``empty`` or ``truncated`` row) and never retries it. Drawn only when asked
for in ``kinds`` or ``script``."""
NEEDLE_PATTERN = r"The special magic number is (\S+?)\."
Style = Literal["openai", "anthropic", "gemini"]


@dataclass
class FaultConfig:
    """Which faults to inject, how often, deterministically."""

    rate: float = 0.0
    seed: int = 0
    kinds: Sequence[str] = FAULT_KINDS
    script: Sequence[str | None] = ()
    """Faults of the first requests, in order (``None`` = answer normally)."""
    slow_delay_s: float = 1.0
    retry_after_s: float = 0.01
    """Sent as ``Retry-After`` by ``rate_limit`` faults (fractional, to keep tests fast)."""

    def __post_init__(self) -> None:
        known = FAULT_KINDS + ANSWER_FAULTS
        unknown = (set(self.kinds) | {k for k in self.script if k}) - set(known)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}; known: {known}")


class RecordedRequest(NamedTuple):
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class _State:
    faults: FaultConfig
    needle: re.Pattern[str]
    answer_template: str
    echo_headers: bool
    api_key: str | None
    context_window: int | None
    reply: Callable[[str], str] | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stats: Counter[str] = field(default_factory=Counter)
    requests: list[RecordedRequest] = field(default_factory=list)
    rng: random.Random = field(default_factory=random.Random)

    def next_fault(self) -> tuple[int, str | None]:
        """(request number, scripted or drawn fault), in arrival order."""
        with self.lock:
            index = self.stats["requests"]
            self.stats["requests"] += 1
            if index < len(self.faults.script):
                return index, self.faults.script[index]
            if self.faults.kinds and self.rng.random() < self.faults.rate:
                return index, self.rng.choice(list(self.faults.kinds))
            return index, None

    def count(self, fault: str | None) -> None:
        with self.lock:
            self.stats[fault or "ok"] += 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a handler stuck on a dead client never blocks shutdown

    def __init__(self, state: _State) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up mid-request are part of the tests


class FakeOpenAIServer:
    """A threaded HTTP server in the background; use it as a context manager."""

    def __init__(
        self,
        faults: FaultConfig | None = None,
        style: Style = "openai",
        *,
        needle_pattern: str = NEEDLE_PATTERN,
        answer_template: str = "The special magic number is {value}.",
        echo_headers: bool = False,
        api_key: str | None = None,
        context_window: int | None = None,
        reply: Callable[[str], str] | None = None,
    ) -> None:
        """``echo_headers`` copies request headers into error bodies (to test redaction);
        ``api_key`` makes requests without it fail with 401; ``context_window`` answers
        prompts of more words than that with the provider's context-length error."""
        faults = faults or FaultConfig()
        self.style = style
        self._state = _State(
            faults, re.compile(needle_pattern), answer_template, echo_headers, api_key,
            context_window, reply, rng=random.Random(faults.seed),
        )
        self._server = _Server(self._state)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))
        self._thread.daemon = True

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{'v1beta' if self.style == 'gemini' else 'v1'}"

    @property
    def stats(self) -> Counter[str]:
        """A snapshot: "requests", "ok", and one count per fault injected."""
        with self._state.lock:
            return Counter(self._state.stats)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received (path, headers, parsed body), in arrival order."""
        with self._state.lock:
            return list(self._state.requests)

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._state.stop.set()  # wakes sleeping "slow" handlers
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _protocol(path: str) -> str | None:
    if path in ("/v1/chat/completions", "/v1/completions"):
        return "openai"
    if path == "/v1/messages":
        return "anthropic"
    return "gemini" if re.fullmatch(r"/v1beta/models/[^/]+:generateContent", path) else None


def _prompt_text(path: str, body: dict[str, Any]) -> str:
    """All text a model would read, whatever the protocol."""
    chunks: list[str] = []

    def add(content: Any) -> None:
        if isinstance(content, str):
            chunks.append(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    chunks.append(part["text"])

    if path.endswith(":generateContent"):
        add((body.get("systemInstruction") or {}).get("parts"))
        for item in body.get("contents", []):
            add(item.get("parts"))
    else:
        add(body.get("system"))
        add(body.get("prompt"))
        for message in body.get("messages", []):
            add(message.get("content"))
    return "\n".join(chunks)


_ERRORS: dict[str, tuple[int, str, str]] = {  # fault: (status, code/type, message)
    "rate_limit": (429, "rate_limit_exceeded", "Rate limit reached, try again later."),
    "rate_limit_no_header": (429, "rate_limit_exceeded", "Rate limit reached."),
    "server_error": (500, "server_error", "The server had an error."),
    "bad_gateway": (502, "bad_gateway", "Bad gateway."),
    "unavailable": (503, "unavailable", "The engine is currently overloaded."),
    "overloaded": (529, "overloaded_error", "Overloaded"),
    "context_length": (400, "context_length_exceeded", ""),
    "unauthorized": (401, "invalid_api_key", "Incorrect API key provided."),
}
_GEMINI_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 429: "RESOURCE_EXHAUSTED",
                  503: "UNAVAILABLE"}
_ANTHROPIC_TYPE = {400: "invalid_request_error", 401: "authentication_error",
                   429: "rate_limit_error", 529: "overloaded_error"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real APIs; every reply has Content-Length

    def setup(self) -> None:
        super().setup()  # headers and body go out in two writes: avoid Nagle's 40 ms stall
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:
        assert isinstance(self.server, _Server)
        state = self.server.state
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        path = self.path.split("?", 1)[0]
        with state.lock:
            state.requests.append(RecordedRequest(path, dict(self.headers), body))
        protocol = _protocol(path)
        if protocol is None or not isinstance(body, dict):
            status = 404 if protocol is None else 400
            return self._reply(status, b'{"error": {"message": "unknown path or bad JSON"}}')
        number, fault = state.next_fault()
        words = len(_prompt_text(path, body).split())
        if fault is None and state.api_key and state.api_key not in self._credentials():
            fault = "unauthorized"
        if fault is None and state.context_window and words > state.context_window:
            fault = "context_length"
        state.count(fault)
        if fault in _ERRORS:
            return self._error(protocol, fault, words, state)
        if fault == "slow" and state.stop.wait(state.faults.slow_delay_s):
            return  # the server is shutting down
        payload = self._answer(protocol, path, body, words, number, state, fault)
        data = json.dumps(payload).encode()
        if fault == "malformed_json":
            data = data[: len(data) // 2]
        self._reply(200, data, cut=fault == "drop")

    def _credentials(self) -> str:
        auth = self.headers.get("Authorization", "").removeprefix("Bearer ")
        return " ".join([auth, self.headers.get("x-api-key", ""),
                         self.headers.get("x-goog-api-key", "")])

    def _answer(self, protocol: str, path: str, body: dict[str, Any], words: int, n: int,
                state: _State, fault: str | None) -> dict[str, Any]:
        prompt = _prompt_text(path, body)
        values = list(dict.fromkeys(state.needle.findall(prompt)))
        text = (state.reply(prompt) if state.reply is not None
                else state.answer_template.format(value=", ".join(values)) if values
                else "I don't know.")
        cutoff = fault == "thinking_cutoff"
        out = 64 if cutoff else len(text.split())
        if fault in ANSWER_FAULTS:
            text = ""
        if protocol == "anthropic":
            blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
            if cutoff:
                blocks = [{"type": "thinking", "thinking": "Let me look.", "signature": "s"}]
            message = {"id": f"msg_fake_{n}", "type": "message", "role": "assistant",
                       "model": body.get("model"), "content": blocks,
                       "stop_reason": "max_tokens" if cutoff else "end_turn",
                       "stop_sequence": None,
                       "usage": {"input_tokens": words, "output_tokens": out,
                                 "cache_read_input_tokens": 0,
                                 "cache_creation_input_tokens": 0}}
            if fault == "empty_choices":  # no content list and no stop reason: malformed
                del message["content"]
                message["stop_reason"] = None
            return message
        if protocol == "gemini":
            content: dict[str, Any] = {"role": "model", "parts": [{"text": text}]}
            if cutoff:
                content = {"role": "model"}  # thinking spent maxOutputTokens: no parts
            candidate = {"content": content, "finishReason": "MAX_TOKENS" if cutoff else "STOP",
                         "index": 0}
            usage = {"promptTokenCount": words, "candidatesTokenCount": 0 if cutoff else out,
                     "totalTokenCount": words + out}
            if cutoff:
                usage["thoughtsTokenCount"] = out
            return {"candidates": [] if fault == "empty_choices" else [candidate],
                    "responseId": f"fake-{n}", "usageMetadata": usage}
        chat = path.endswith("/chat/completions")
        choice: dict[str, Any] = {"index": 0, "finish_reason": "length" if cutoff else "stop"}
        choice.update({"message": {"role": "assistant", "content": text}} if chat
                      else {"text": text})
        return {"id": f"cmpl-fake-{n}", "object": "chat.completion" if chat else "text_completion",
                "model": body.get("model"),
                "choices": [] if fault == "empty_choices" else [choice],
                "usage": {"prompt_tokens": words, "completion_tokens": out,
                          "total_tokens": words + out,
                          "prompt_tokens_details": {"cached_tokens": 0}}}

    def _error(self, protocol: str, fault: str, words: int, state: _State) -> None:
        status, code, message = _ERRORS[fault]
        if fault == "context_length":
            limit = state.context_window or 4096
            message = {
                "openai": f"This model's maximum context length is {limit} "
                          f"tokens. However, your messages resulted in {words} tokens.",
                "anthropic": f"prompt is too long: {words} tokens > {limit} maximum",
                "gemini": f"The input token count ({words}) exceeds the maximum number of "
                          f"tokens allowed ({limit}).",
            }[protocol]
        if state.echo_headers:
            message += f" Request headers: {json.dumps(dict(self.headers))}"
        if protocol == "anthropic":
            kind = _ANTHROPIC_TYPE.get(status, "api_error")
            payload: dict[str, Any] = {"type": "error",
                                       "error": {"type": kind, "message": message}}
        elif protocol == "gemini":
            payload = {"error": {"code": status, "message": message,
                                 "status": _GEMINI_STATUS.get(status, "INTERNAL")}}
        else:
            payload = {"error": {"message": message, "type": code, "param": None, "code": code}}
        headers = {}
        if fault == "rate_limit":
            headers = {"Retry-After": f"{state.faults.retry_after_s:g}",
                       "retry-after-ms": f"{state.faults.retry_after_s * 1000:g}"}
        self._reply(status, json.dumps(payload).encode(), headers=headers)

    def _reply(self, status: int, data: bytes, *, cut: bool = False,
               headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data[: len(data) // 2] if cut else data)
            self.wfile.flush()
            if cut:  # the peer sees a body shorter than Content-Length
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            self.close_connection = True  # the client gave up first (e.g. its timeout)
