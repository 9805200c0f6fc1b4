"""API keys never leave the process: not in rows, manifests, reports, logs or messages.

A canary key is sent to a fake server that copies every request header into its error
bodies (as some proxies do). After a run full of errors, an aborted run and a report,
every byte niah wrote or printed is searched for the key and for fragments of it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from niah import runner as runner_module
from niah.cli.main import main
from niah.results import read_rows
from tests.fakes.openai_server import FakeOpenAIServer, FaultConfig, Style
from tests.reliability import files_under, write_config

KEY_ENV = "NIAH_CANARY_KEY"
ECHOING_FAULTS = ["rate_limit", "server_error", "bad_gateway", "context_length", "unauthorized"]
CASES = [  # (protocol, model id, request header that carries the key)
    pytest.param("openai", "openai/gpt-fake", "Authorization", id="openai"),
    pytest.param("openai", "openai-compatible/fake", "Authorization", id="openai-compatible"),
    pytest.param("anthropic", "anthropic/claude-fake", "x-api-key", id="anthropic"),
    pytest.param("gemini", "gemini/gemini-fake", "x-goog-api-key", id="gemini"),
]


@pytest.fixture
def canary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    key = f"sk-canary-{uuid.uuid4().hex}"
    monkeypatch.setenv(KEY_ENV, key)
    monkeypatch.setenv("NIAH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "160")
    monkeypatch.chdir(tmp_path)

    async def no_wait(seconds: float) -> None:
        pass

    monkeypatch.setattr(runner_module, "backoff_sleep", no_wait)
    return key


@pytest.fixture
def sent_urls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every URL the backends actually requested (the fake's record drops query strings)."""
    urls: list[str] = []
    send = httpx.AsyncClient.send

    async def recording_send(self: httpx.AsyncClient, request: httpx.Request,
                             **kwargs: Any) -> httpx.Response:
        urls.append(str(request.url))
        return await send(self, request, **kwargs)

    monkeypatch.setattr(httpx.AsyncClient, "send", recording_send)
    yield urls


def fragments(key: str) -> list[str]:
    """The key and pieces of its random part: a truncated key must not survive either."""
    secret = key.removeprefix("sk-canary-")
    return [key, secret[:10], secret[11:21], secret[-10:]]


def leaks(data: bytes | str, key: str) -> list[str]:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return [f for f in fragments(key) if f in text]


@pytest.mark.parametrize(("style", "model_id", "header"), CASES)
def test_a_canary_key_never_appears_in_anything_niah_writes_or_prints(
    style: Style, model_id: str, header: str, canary: str, sent_urls: list[str],
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx's and httpcore's included
    faults = FaultConfig(rate=0.6, seed=3, kinds=ECHOING_FAULTS, script=ECHOING_FAULTS,
                         retry_after_s=0.0)
    with FakeOpenAIServer(faults, style=style, echo_headers=True, api_key=canary) as server:
        model = {"id": model_id, "base_url": server.base_url, "api_key_env": KEY_ENV}
        run_opts = {"max_retries": 1, "concurrency": 2}
        cfg = write_config(tmp_path, model, max_error_rate=1.0, **run_opts)
        out = tmp_path / "out"
        code = main(["run", str(cfg), "--out", str(out)])
        assert code == (0 if any(r.score is not None for r in read_rows(out)) else 1)
        assert main(["report", str(out)]) == 0
        # a run that aborts prints its last error message: redacted too
        aborting = write_config(tmp_path, model, max_error_rate=0.0, min_trials_before_abort=1,
                                **run_opts)
        assert main(["run", str(aborting), "--out", str(tmp_path / "aborted")]) == 1
        received = server.requests
    printed = capsys.readouterr()
    assert "failed:" in printed.err and "above run.max_error_rate" in printed.err

    # the canary was really used, and really echoed back: this test can catch a leak
    assert all(r.headers.get(header, "").endswith(canary) for r in received)
    rows = read_rows(out)
    echoed = [r.error.message for r in rows if r.error and "Request headers" in r.error.message]
    assert any("***" in m for m in echoed)  # redacted (messages are cut at 300 chars)
    assert (out / "report" / "report.html").is_file()

    everything = files_under(tmp_path)
    assert len(everything) > 8
    for path in everything:
        assert not leaks(path.read_bytes(), canary), f"key leaked into {path}"
    assert not leaks(printed.out + printed.err, canary), "key leaked to stdout/stderr"
    assert not leaks(caplog.text, canary), "key leaked to the logs"
    assert sent_urls and not any(leaks(url, canary) for url in sent_urls)
    assert all(canary not in r.path for r in received)


@pytest.mark.parametrize("junk", ["\n", "\t", "\u2019"], ids=["newline", "tab", "non-ascii"])
@pytest.mark.parametrize(("style", "model_id"), [("openai", "openai/gpt-fake"),
                                                 ("anthropic", "anthropic/claude-fake")])
def test_a_key_no_header_can_carry_is_refused_without_quoting_it(
    junk: str, style: Style, model_id: str, canary: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """httpx quotes an illegal header value in its error: such a key would be stored in
    every error row. It is refused before any request, naming the variable only."""
    key = canary[:20] + junk + canary[20:]
    monkeypatch.setenv(KEY_ENV, key)
    with FakeOpenAIServer(style=style) as server:
        model = {"id": model_id, "base_url": server.base_url, "api_key_env": KEY_ENV}
        cfg = write_config(tmp_path, model)
        assert main(["run", str(cfg), "--out", str(tmp_path / "out")]) == 2
        assert server.stats["requests"] == 0
    printed = capsys.readouterr()
    assert f"model.api_key_env: environment variable {KEY_ENV} holds a line break" in printed.err
    assert not leaks(printed.out + printed.err, canary) and key not in printed.err
    assert not (tmp_path / "out").exists()
