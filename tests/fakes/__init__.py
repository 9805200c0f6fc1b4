"""Test doubles shared by the test suite: a fake model server and a scripted transport."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from tests.fakes.openai_server import FAULT_KINDS, FakeOpenAIServer, FaultConfig, RecordedRequest

Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class ScriptedTransport(httpx.MockTransport):
    """Records each request and answers with the next scripted reply (the last repeats).

    A reply is a response, an exception to raise, or a function of the request.
    """

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies) or [httpx.Response(200, json={})]
        self.requests: list[httpx.Request] = []
        super().__init__(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        reply = self.replies[min(len(self.requests), len(self.replies) - 1)]
        self.requests.append(request)
        if isinstance(reply, Exception):
            raise reply
        return reply(request) if callable(reply) else reply

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self)

    def body(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)


__all__ = [
    "FAULT_KINDS",
    "FakeOpenAIServer",
    "FaultConfig",
    "RecordedRequest",
    "ScriptedTransport",
]
