"""The shared HTTP plumbing: one error mapping, retry hints, redaction, keys, options."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from niah.backends._http import (
    MESSAGE_LIMIT,
    error_details,
    merge_options,
    one_line,
    parse_retry_after,
    resolve_api_key,
)
from niah.backends.base import Message, Request
from niah.backends.openai import OpenAIBackend
from niah.config import ModelSpec
from niah.errors import ConfigError, ModelError, PermanentModelError, TransientModelError
from tests.fakes import ScriptedTransport

pytestmark = pytest.mark.anyio

KEY = "sk-test-0123456789abcdef"
REQUEST = Request(messages=[Message(role="user", content="hi")])


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


async def failure(*replies: Any) -> ModelError:
    transport = ScriptedTransport(*replies)
    backend = OpenAIBackend(ModelSpec(id="openai/gpt-test"), client=transport.client())
    with pytest.raises(ModelError) as info:
        await backend.generate(REQUEST)
    return info.value


def openai_error(status: int, message: str, code: str | None = None, **headers: str) -> Any:
    body = {"error": {"message": message, "type": "x", "param": None, "code": code}}
    return httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize(
    ("reply", "cls", "kind"),
    [
        (openai_error(429, "Rate limit reached"), TransientModelError, "rate_limit"),
        (openai_error(429, "quota", "insufficient_quota"), PermanentModelError,
         "insufficient_quota"),
        (openai_error(408, "timeout"), TransientModelError, "server_error"),
        (openai_error(409, "conflict"), TransientModelError, "server_error"),
        (openai_error(500, "oops"), TransientModelError, "server_error"),
        (httpx.Response(502, text="<html>Bad Gateway</html>"), TransientModelError,
         "server_error"),
        (openai_error(503, "overloaded"), TransientModelError, "server_error"),
        (httpx.Response(529, json={"type": "error", "error": {"type": "overloaded_error",
                                                              "message": "Overloaded"}}),
         TransientModelError, "server_error"),
        (openai_error(400, "too big", "context_length_exceeded"), PermanentModelError,
         "context_length_exceeded"),
        (openai_error(400, "This model's maximum context length is 8192 tokens."),
         PermanentModelError, "context_length_exceeded"),
        (openai_error(400, "prompt is too long: 300000 tokens > 200000 maximum"),
         PermanentModelError, "context_length_exceeded"),
        (httpx.Response(400, json={"error": {"code": 400, "type": "exceed_context_size_error",
                                             "message": "request exceeds the available size"}}),
         PermanentModelError, "context_length_exceeded"),
        (openai_error(400, "temperature must be at most 2"), PermanentModelError, "bad_request"),
        (openai_error(422, "unprocessable"), PermanentModelError, "bad_request"),
        (openai_error(401, "Incorrect API key"), PermanentModelError, "auth"),
        (openai_error(403, "forbidden"), PermanentModelError, "auth"),
        (openai_error(404, "The model does not exist"), PermanentModelError, "not_found"),
        (httpx.Response(200, text="{not json"), TransientModelError, "bad_response"),
        (httpx.Response(200, json=[1, 2]), TransientModelError, "bad_response"),
        (httpx.Response(200, json={"choices": []}), TransientModelError, "bad_response"),
    ],
)
async def test_status_mapping(reply: httpx.Response, cls: type, kind: str) -> None:
    error = await failure(reply)
    assert type(error) is cls
    assert error.kind == kind
    assert error.status == reply.status_code
    assert str(error).startswith(f"openai {reply.status_code}: ")
    assert "\n" not in str(error)


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (httpx.ConnectTimeout("connect timed out"), "timeout"),
        (httpx.ReadTimeout("read timed out"), "timeout"),
        (httpx.PoolTimeout("no connection"), "timeout"),
        (httpx.ConnectError("refused"), "connect"),
        (httpx.ReadError("reset"), "connection"),
        (httpx.WriteError("broken pipe"), "connection"),
        (httpx.RemoteProtocolError("peer closed connection"), "connection"),
        (httpx.ProxyError("proxy down"), "connection"),
        (httpx.DecodingError("bad gzip"), "bad_response"),
    ],
)
async def test_transport_errors_are_transient(exc: Exception, kind: str) -> None:
    error = await failure(exc)
    assert isinstance(error, TransientModelError)
    assert error.kind == kind
    assert error.__cause__ is exc
    assert str(error).startswith(f"openai {kind} (https://api.openai.com/v1/chat/completions): "
                                 f"{type(exc).__name__}")


async def test_retry_after_reaches_the_error() -> None:
    assert (await failure(openai_error(429, "slow", **{"Retry-After": "7"}))).retry_after == 7
    hinted = await failure(openai_error(429, "x", **{"retry-after-ms": "250"}))
    assert hinted.retry_after == 0.25
    assert (await failure(openai_error(429, "no hint"))).retry_after is None
    assert (await failure(openai_error(503, "x", **{"Retry-After": "2"}))).retry_after == 2


def test_parse_retry_after_forms() -> None:
    now = datetime(2024, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after(httpx.Headers({"Retry-After": "3"})) == 3
    assert parse_retry_after(httpx.Headers({"Retry-After": "1.5"})) == 1.5
    date = httpx.Headers({"Retry-After": "Mon, 01 Jan 2024 12:00:30 GMT"})
    assert parse_retry_after(date, now=now) == 30
    past = httpx.Headers({"Retry-After": "Mon, 01 Jan 2024 11:00:00 GMT"})
    assert parse_retry_after(past, now=now) == 0
    both = httpx.Headers({"Retry-After": "3", "retry-after-ms": "1500"})
    assert parse_retry_after(both) == 1.5  # the precise one wins
    assert parse_retry_after(httpx.Headers({"Retry-After": "soon"})) is None
    assert parse_retry_after(httpx.Headers({"Retry-After": "-4"})) == 0
    assert parse_retry_after(httpx.Headers()) is None


async def test_key_never_appears_in_error_messages() -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        message = f"Invalid request; headers were {dict(request.headers)}"
        return httpx.Response(401, json={"error": {"message": message}})

    error = await failure(echo)
    assert KEY not in str(error)
    assert "Bearer ***" in str(error) or "***" in str(error)


def test_one_line_redacts_before_cutting() -> None:
    assert one_line(f"auth: Bearer abc.def\n key {KEY}", [KEY]) == "auth: Bearer *** key ***"
    # A key straddling the cut is redacted first, so no fragment of it survives.
    long = "x" * (MESSAGE_LIMIT - 10) + KEY + "\n" + "y" * 50
    cut = one_line(long, [KEY])
    assert len(cut) <= MESSAGE_LIMIT and KEY[:8] not in cut and "\n" not in cut


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"error": {"message": "m", "code": "c"}}, ("m", "c")),
        ({"type": "error", "error": {"type": "overloaded_error", "message": "m"}},
         ("m", "overloaded_error")),
        ({"error": {"code": 429, "message": "m", "status": "RESOURCE_EXHAUSTED"}},
         ("m", "RESOURCE_EXHAUSTED")),
        ({"detail": "not found"}, ("not found", None)),
        ({"error": "plain"}, ("plain", None)),
    ],
)
def test_error_details(body: Any, expected: tuple[str, str | None]) -> None:
    assert error_details(httpx.Response(400, json=body)) == expected


def test_error_details_of_a_non_json_body() -> None:
    assert error_details(httpx.Response(502, text="upstream down")) == ("upstream down", None)
    assert error_details(httpx.Response(502)) == ("Bad Gateway", None)


def test_resolve_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = ModelSpec(id="x/y")
    monkeypatch.setenv("FIRST", "  ")
    monkeypatch.setenv("SECOND", "k2")
    assert resolve_api_key(spec, ["FIRST", "SECOND"], required=True) == "k2"
    monkeypatch.delenv("SECOND")
    with pytest.raises(ConfigError, match=r"^model.api_key_env: environment variable FIRST or"):
        resolve_api_key(spec, ["FIRST", "SECOND"], required=True)
    assert resolve_api_key(spec, [], required=False) is None
    with pytest.raises(ConfigError, match="MY_KEY is not set"):
        resolve_api_key(ModelSpec(id="x/y", api_key_env="MY_KEY"), [], required=False)


def test_merge_options() -> None:
    body: dict[str, Any] = {"model": "m", "config": {"temperature": 0}}
    merge_options(body, {"top_k": 1, "config": {"topK": 2}})
    assert body == {"model": "m", "top_k": 1, "config": {"temperature": 0, "topK": 2}}
    with pytest.raises(ConfigError, match=r"^model.options.config.temperature: is set by niah"):
        merge_options(body, {"config": {"temperature": 1}})


async def test_owned_client_is_created_lazily_and_closed() -> None:
    backend = OpenAIBackend(ModelSpec(id="openai/gpt-test"))
    assert backend._client is None
    await backend.aclose()
    injected = ScriptedTransport().client()
    backend = OpenAIBackend(ModelSpec(id="openai/gpt-test"), client=injected)
    await backend.aclose()
    assert not injected.is_closed  # the injector owns it
    await injected.aclose()


def test_describe_has_no_secret() -> None:
    backend = OpenAIBackend(ModelSpec(id="openai/gpt-test"))
    assert backend.describe() == {"id": "openai/gpt-test", "base_url": "https://api.openai.com/v1"}
    assert KEY not in repr(backend.describe())


def test_base_url_must_be_http() -> None:
    with pytest.raises(ConfigError, match=r"^model.base_url: must start with http"):
        OpenAIBackend(ModelSpec(id="openai/gpt-test", base_url="api.openai.com/v1"))
