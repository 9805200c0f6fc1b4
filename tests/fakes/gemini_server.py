"""A fake Gemini API with media over real HTTP on 127.0.0.1: ``generateContent`` with
``inline_data``/``file_data`` parts and the Files API's resumable upload.

    POST /upload/v1beta/files                 start (X-Goog-Upload-* headers, JSON)
    POST /upload/v1beta/files?upload_id=N     upload, finalize (the bytes)
    GET  /v1beta/files/fN                     the File; PROCESSING for ``processing_polls``
    POST /v1beta/models/M:generateContent     refuses requests over ``inline_limit`` bytes
                                              and file_data that is not ACTIVE, as Google does

It checks what Google checks (headers, sizes, offsets, key) and answers with a line
that counts what it received, e.g. ``inline=1 files=0 text=2``.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.loopback import LoopbackServer
from tests.fakes.openai_server import RecordedRequest


@dataclass
class StoredFile:
    name: str
    mime: str
    data: bytes
    display_name: str
    polls: int = 0


@dataclass
class _State:
    api_key: str
    inline_limit: int
    processing_polls: int
    fail_processing: bool
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list[RecordedRequest] = field(default_factory=list)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, StoredFile] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: _State) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


class FakeGeminiServer(LoopbackServer):
    def __init__(self, api_key: str, *, inline_limit: int = 100_000_000,
                 processing_polls: int = 1, fail_processing: bool = False) -> None:
        self._state = _State(api_key, inline_limit, processing_polls, fail_processing)
        self._serve(_Server(self._state))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1beta"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    @property
    def files(self) -> dict[str, StoredFile]:
        with self._state.lock:
            return dict(self._state.files)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def state(self) -> _State:
        assert isinstance(self.server, _Server)
        return self.server.state

    def _record(self, body: Any) -> None:
        with self.state.lock:
            self.state.requests.append(
                RecordedRequest(self.path, dict(self.headers), body))

    def _reply(self, status: int, payload: dict[str, Any],
               headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        statuses = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 404: "NOT_FOUND",
                    411: "LENGTH_REQUIRED"}
        self._reply(status, {"error": {"code": status, "message": message,
                                       "status": statuses.get(status, "INTERNAL")}})

    def _file_json(self, file: StoredFile, state: str) -> dict[str, Any]:
        return {"name": file.name, "displayName": file.display_name, "mimeType": file.mime,
                "sizeBytes": str(len(file.data)), "state": state,
                "uri": f"http://127.0.0.1:{self.server.server_address[1]}/v1beta/{file.name}"}

    def do_GET(self) -> None:
        self._record(None)
        if self.headers.get("x-goog-api-key") != self.state.api_key:
            return self._error(401, "API key not valid.")
        name = urlsplit(self.path).path.removeprefix("/v1beta/")
        with self.state.lock:
            file = self.state.files.get(name)
            if file is None:
                return self._error(404, f"File {name} not found")
            file.polls += 1
            done = file.polls > self.state.processing_polls
            state = ("FAILED" if self.state.fail_processing else "ACTIVE") if done else "PROCESSING"
        self._reply(200, self._file_json(file, state))

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length")
        if length is None:  # niah always says how long its bodies are
            self._record(None)
            return self._error(411, "Content-Length required")
        raw = self.rfile.read(int(length))
        url = urlsplit(self.path)
        if url.path == "/upload/v1beta/files":
            return self._upload(raw, parse_qs(url.query).get("upload_id", [None])[0])
        body = json.loads(raw)
        self._record(body)
        if self.headers.get("x-goog-api-key") != self.state.api_key:
            return self._error(401, "API key not valid.")
        if int(length) > self.state.inline_limit:
            return self._error(400, f"Request payload size exceeds the limit: "
                                    f"{self.state.inline_limit} bytes.")
        parts = [p for c in body["contents"] for p in c["parts"]]
        counts = {"text": 0, "inline": 0, "files": 0}
        for part in parts:
            if "file_data" in part:
                name = part["file_data"]["file_uri"].split("/v1beta/", 1)[1]
                with self.state.lock:
                    file = self.state.files.get(name)
                    active = (file is not None and not self.state.fail_processing
                              and file.polls > self.state.processing_polls)
                if not active:
                    return self._error(400, f"The File {name} is not in an ACTIVE state "
                                            "and usage is not allowed.")
                counts["files"] += 1
            else:
                counts["inline" if "inline_data" in part else "text"] += 1
        text = " ".join(f"{k}={v}" for k, v in counts.items())
        self._reply(200, {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                                          "finishReason": "STOP", "index": 0}],
                          "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 3},
                          "responseId": "fake"})

    def _upload(self, raw: bytes, upload_id: str | None) -> None:
        state = self.state
        h = self.headers
        if h.get("x-goog-api-key") != state.api_key:
            self._record(None)
            return self._error(401, "API key not valid.")
        if upload_id is None:  # start
            body = json.loads(raw)
            self._record(body)
            if (h.get("X-Goog-Upload-Protocol") != "resumable"
                    or h.get("X-Goog-Upload-Command") != "start"):
                return self._error(400, "expected a resumable start")
            with state.lock:
                session = str(len(state.sessions))
                state.sessions[session] = {
                    "size": int(h["X-Goog-Upload-Header-Content-Length"]),
                    "mime": h["X-Goog-Upload-Header-Content-Type"],
                    "display_name": body["file"]["display_name"],
                }
            port = self.server.server_address[1]
            return self._reply(200, {}, headers={"X-Goog-Upload-URL": f"http://127.0.0.1:{port}"
                               f"/upload/v1beta/files?upload_id={session}"
                               "&upload_protocol=resumable"})
        self._record({"bytes": len(raw)})
        with state.lock:
            session_info = state.sessions.get(upload_id)
        if (session_info is None or h.get("X-Goog-Upload-Command") != "upload, finalize"
                or h.get("X-Goog-Upload-Offset") != "0" or len(raw) != session_info["size"]):
            return self._error(400, "bad upload: unknown session, command, offset or size")
        with state.lock:
            name = f"files/f{len(state.files)}"
            file = StoredFile(name, session_info["mime"], raw, session_info["display_name"])
            state.files[name] = file
        self._reply(200, {"file": self._file_json(file, "PROCESSING")})
