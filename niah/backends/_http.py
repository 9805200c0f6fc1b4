"""Shared plumbing of the HTTP backends: keys, options, one POST and one error mapping.

Every provider failure is translated into the ``niah.errors`` tree here, once, so
the runner can retry what is worth retrying and record the rest:

    httpx.TimeoutException                      -> Transient "timeout"
    httpx.ConnectError (refused, unknown host)  -> Transient "connect"
    httpx.TransportError (read, drop)           -> Transient "connection"
    httpx.DecodingError (bad gzip, charset)     -> Transient "bad_response"
    429                                         -> Transient "rate_limit" (+ retry_after,
                                                   else the rate-limit headers' reset)
    408, 409, 5xx, 529                          -> Transient "server_error"
    400/413 saying the prompt is too long       -> Permanent "context_length_exceeded"
    401, 403                                    -> Permanent "auth"
    404                                         -> Permanent "not_found"
    other 3xx/4xx                               -> Permanent "bad_request"
    200 with unparsable JSON or no answer at all -> Transient "bad_response"

A 200 whose answer is empty or was cut by the token limit is not an error: it is a
``Completion`` with the provider's own finish reason, and scoring records it.
Backends never retry: the runner does, once, for all of them.
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import httpx
from pydantic import Field, field_validator

from niah.backends._body import encode_body
from niah.backends._ratelimit import rate_limit_wait
from niah.backends.base import Backend, BackendOptions, Completion, Usage, parse_options
from niah.config import ModelSpec
from niah.errors import ConfigError, ModelError, PermanentModelError, TransientModelError
from niah.redact import redact_text

DEFAULT_TIMEOUT = httpx.Timeout(600.0, connect=30.0)
"""Long-context prompts can take minutes; the runner may enforce a shorter limit."""
MESSAGE_LIMIT = 300

_CONTEXT_PATTERNS = re.compile(
    r"context[ _-]?(length|window|size)|too long|maximum context|too many tokens"
    r"|exceeds the maximum number of tokens",
    re.IGNORECASE,
)
_CONTEXT_CODES = {"context_length_exceeded", "exceed_context_size_error", "string_above_max_length"}


class HTTPOptions(BackendOptions):
    """``model.options`` of an HTTP backend: named options, and ``body`` sent as it is."""

    reserved: ClassVar[frozenset[str]] = frozenset()
    """Body fields (dotted paths) that niah sets from the run settings or a named option."""

    body: dict[str, Any] = Field(default_factory=dict)
    """Extra fields merged into every request body (e.g. ``{top_k: 1}``); fields niah
    sets itself are refused."""

    @field_validator("body")
    @classmethod
    def _not_set_by_niah(cls, body: dict[str, Any]) -> dict[str, Any]:
        for dotted in sorted(cls.reserved):
            node: Any = body
            *parents, last = dotted.split(".")
            for key in parents:
                node = node.get(key) if isinstance(node, dict) else None
            if isinstance(node, dict) and last in node:
                raise ValueError(f"{dotted} is set by niah from the run settings or a named "
                                 "option; remove it")
        return body

    def fields(self) -> dict[str, Any]:
        """The named options as request body fields."""
        return {}


def resolve_api_key(spec: ModelSpec, defaults: Sequence[str], *, required: bool) -> str | None:
    """The key from ``spec.api_key_env`` or the provider's usual variables.

    Missing keys fail at construction, so the CLI exits 2 before any trial runs.
    """
    names = [spec.api_key_env] if spec.api_key_env else list(defaults)
    for name in names:
        value = os.environ.get(name, "").strip()
        if value and not (value.isascii() and value.isprintable()):
            # httpx would fail on every request, quoting the header (the key) in its error
            raise ConfigError("model.api_key_env", f"environment variable {name} holds a "
                              "line break, control or non-ASCII character; an HTTP header "
                              "cannot carry it (was the key pasted with something else?)")
        if value:
            return value
    if required or spec.api_key_env:
        listed = " or ".join(names)
        raise ConfigError("model.api_key_env", f"environment variable {listed} is not set")
    return None


def check_base_url(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ConfigError("model.base_url", f"must start with http:// or https://, got {url!r}")
    return url.rstrip("/")


def merge_options(body: dict[str, Any], options: Mapping[str, Any], path: str = "") -> None:
    """Add option fields to a body; never override what niah sets."""
    for key, value in options.items():
        if key not in body:
            body[key] = value
        elif isinstance(body[key], dict) and isinstance(value, Mapping):
            merge_options(body[key], value, f"{path}{key}.")
        else:
            raise ConfigError(
                f"model.options.{path}{key}", "is set by niah from the run settings; remove it"
            )


def one_line(text: str, secrets: Sequence[str]) -> str:
    """Redacted before truncation, so no fragment of a key can survive the cut."""
    text = " ".join(redact_text(text, secrets).split())
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 3] + "..."


def parse_retry_after(headers: httpx.Headers, now: datetime | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def error_details(response: httpx.Response) -> tuple[str, str | None]:
    """(message, code) from OpenAI, Anthropic, Gemini, llama.cpp or FastAPI error bodies."""
    try:
        body = response.json()
    except ValueError:
        return response.text or response.reason_phrase, None
    error = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(error, dict):
        message = error.get("message") or error.get("detail") or str(body)
        code = error.get("code") if isinstance(error.get("code"), str) else None
        code = code or error.get("type") or error.get("status")
        return str(message), str(code) if code else None
    return str(error), None


def status_error(provider: str, response: httpx.Response, secrets: Sequence[str]) -> ModelError:
    """The niah error for a non-2xx response."""
    status = response.status_code
    message, code = error_details(response)
    text = one_line(f"{provider} {status}: {message}", secrets)
    if status == 429:
        if code == "insufficient_quota":  # OpenAI: out of credit; waiting will not help
            return PermanentModelError(text, kind="insufficient_quota", status=status)
        retry_after = parse_retry_after(response.headers)
        if retry_after is None:  # endpoints (issue 16): the provider's rate-limit resets
            retry_after = rate_limit_wait(response.headers)
        return TransientModelError(text, kind="rate_limit", status=status, retry_after=retry_after)
    if status in (408, 409) or status >= 500:
        retry_after = parse_retry_after(response.headers)
        return TransientModelError(
            text, kind="server_error", status=status, retry_after=retry_after
        )
    if status in (400, 413) and (code in _CONTEXT_CODES or _CONTEXT_PATTERNS.search(message)):
        return PermanentModelError(text, kind="context_length_exceeded", status=status)
    kind = {401: "auth", 403: "auth", 404: "not_found"}.get(status, "bad_request")
    return PermanentModelError(text, kind=kind, status=status)


def transport_error(provider: str, exc: httpx.RequestError, secrets: Sequence[str]) -> ModelError:
    """Timeouts, failed or dropped connections; an undecodable body is a bad response."""
    kind = "bad_response"
    if isinstance(exc, httpx.TimeoutException):
        kind = "timeout"
    elif isinstance(exc, httpx.ConnectError):
        kind = "connect"  # nothing listening, or the host unknown: never reached the server
    elif isinstance(exc, httpx.TransportError):
        kind = "connection"
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    try:
        url = exc.request.url.copy_with(query=None, fragment=None)
        where = f" ({url})"
    except RuntimeError:  # an error raised without a request
        where = ""
    return TransientModelError(one_line(f"{provider} {kind}{where}: {detail}", secrets), kind=kind)


def json_object(provider: str, response: httpx.Response, secrets: Sequence[str]
                ) -> dict[str, Any]:
    """A 2xx reply's JSON object, or the error that says what was wrong with the reply."""
    if not 200 <= response.status_code < 300:
        raise status_error(provider, response, secrets)
    try:
        data = response.json()
    except ValueError as exc:
        raise bad_response(provider, "response is not valid JSON") from exc
    if not isinstance(data, dict):
        raise bad_response(provider, "response is not a JSON object")
    return data


def bad_response(provider: str, what: str, status: int = 200) -> TransientModelError:
    return TransientModelError(f"{provider} {status}: {what}", kind="bad_response", status=status)


def as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def answer(text: str, usage: Usage, finish_reason: Any, provider_id: Any) -> Completion:
    """A parsed reply; finish reason and id kept only when the provider sent strings."""
    return Completion(text=text, usage=usage, finish_reason=as_str(finish_reason),
                      provider_id=as_str(provider_id))


class HTTPBackend(Backend):
    """A backend that POSTs JSON; owns its clients unless one is injected (tests).

    An owned backend keeps one ``httpx.AsyncClient`` (one keep-alive connection) per
    request in flight rather than one shared pool. httpcore's pool scans every idle
    connection on each request, quadratically, and hands one idle connection to all
    the requests queued in the same loop turn, which then retry: with 8 requests in
    flight to a fast server that cost up to 0.5 ms a request, a third of httpx's own
    work. Per-slot clients share one SSL context (building one loads the CA bundle).
    """

    default_base_url: ClassVar[str] = ""
    key_envs: ClassVar[tuple[str, ...]] = ()
    """Environment variables tried for the key when ``model.api_key_env`` is not set."""
    key_required: ClassVar[bool] = True
    options_model: ClassVar[type[HTTPOptions]] = HTTPOptions
    options: HTTPOptions
    remote = True

    def __init__(self, spec: ModelSpec, client: httpx.AsyncClient | None = None) -> None:
        super().__init__(spec)
        self.options = parse_options(self.options_model, spec)
        self.base_url = check_base_url(spec.base_url or self.default_base_url)
        self._key = resolve_api_key(spec, self.key_envs, required=self.key_required)
        self._secrets: list[str] = [self._key] if self._key else []
        self._client = client
        self._owns_client = client is None
        self._owned: list[httpx.AsyncClient] = []
        self._idle: list[httpx.AsyncClient] = []
        self._ssl: ssl.SSLContext | None = None

    def with_options(self, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` with the named options and then ``options.body`` merged in."""
        merge_options(body, self.options.fields())
        merge_options(body, self.options.body, "body.")
        return body

    async def post_json(
        self, url: str, headers: Mapping[str, str], body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """POST and return the JSON object, or raise the mapped ``ModelError``.

        ``body`` may hold the prompt as ``_body.Text``: a long one is then streamed,
        escaped a slice at a time, never held a second time (see ``niah.backends._body``).
        """
        provider = self.spec.provider
        sent = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        sent["Content-Type"] = "application/json"
        encoded = encode_body(dict(body))
        client = self._take_client()
        try:
            if isinstance(encoded, bytes):
                response = await client.post(url, headers=sent, content=encoded)
            else:
                sent["Content-Length"] = str(await encoded.measure())
                response = await client.post(url, headers=sent, content=encoded)
        except httpx.RequestError as exc:
            raise transport_error(provider, exc, self._secrets) from exc
        finally:
            if self._owns_client:
                self._idle.append(client)
        return json_object(provider, response, self._secrets)

    async def send(self, method: str, url: str, headers: Mapping[str, str],
                   content: Any = None) -> httpx.Response:
        """One request of any kind (uploads, polls), transport failures mapped; the
        caller reads the status (``json_object``)."""
        client = self._take_client()
        try:
            return await client.request(method, url, headers=dict(headers), content=content)
        except httpx.RequestError as exc:
            raise transport_error(self.spec.provider, exc, self._secrets) from exc
        finally:
            if self._owns_client:
                self._idle.append(client)

    def _take_client(self) -> httpx.AsyncClient:
        if not self._owns_client:
            assert self._client is not None
            return self._client
        if self._idle:
            return self._idle.pop()
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context()  # honours SSL_CERT_FILE, as httpx does
        client = httpx.AsyncClient(timeout=DEFAULT_TIMEOUT, verify=self._ssl)
        self._owned.append(client)
        return client

    async def aclose(self) -> None:
        if self._owns_client:  # every client made, also one still out with a request
            owned, self._owned, self._idle = self._owned, [], []
            for client in owned:
                await client.aclose()

    def describe(self) -> dict[str, Any]:
        return {"id": self.spec.id, "base_url": self.base_url}
