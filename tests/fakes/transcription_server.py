"""A fake OpenAI-compatible ``POST /v1/audio/transcriptions`` server on 127.0.0.1.

It parses the multipart upload as a real server would (the stdlib email parser), keeps
every request's fields for the tests, and answers ``{"text": "clip <sha of samples>"}``,
so equal audio gets equal text. ``status`` makes every request fail with that status.

    with FakeTranscriptionServer() as srv:
        ... base_url=srv.base_url ...
        srv.requests  # [{"fields": {...}, "filename":, "content_type":, "rate":, ...}]
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import wave
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fakes.loopback import LoopbackServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        owner = self.server.owner
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        head = f"Content-Type: {self.headers.get('Content-Type')}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + body)
        record: dict[str, Any] = {"path": self.path, "auth": self.headers.get("Authorization"),
                                  "multipart": message.is_multipart(), "fields": {}}
        for part in message.iter_parts() if message.is_multipart() else []:
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            if part.get_filename():
                record.update(filename=part.get_filename(), content_type=part.get_content_type())
                with wave.open(io.BytesIO(payload), "rb") as w:
                    record.update(rate=w.getframerate(), channels=w.getnchannels(),
                                  width=w.getsampwidth(), samples=w.getnframes())
                    frames = w.readframes(w.getnframes())
                record["sha"] = hashlib.sha256(frames).hexdigest()[:12]
            else:
                record["fields"][name] = payload.decode()
        with owner.lock:
            owner.requests.append(record)
        if owner.status != 200:
            self._reply(owner.status, {"error": {"message": "Incorrect API key provided: sk-test"}})
        elif "sha" not in record:
            self._reply(400, {"error": {"message": "no file"}})
        else:
            self._reply(200, {"text": f" clip {record['sha']} "})

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: FakeTranscriptionServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.owner = owner


class FakeTranscriptionServer(LoopbackServer):
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self._serve(_Server(self))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"
