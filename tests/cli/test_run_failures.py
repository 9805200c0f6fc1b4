"""``niah run`` when things go wrong: it says so at once, and exits 1."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from niah.backends import registry
from niah.backends.base import Backend, Completion, Request, Usage
from niah.cli.main import main
from niah.results import read_rows

NEEDLE = {"text": "The special magic number is {value}.",
          "question": "What is the special magic number?"}


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIAH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "160")
    monkeypatch.chdir(tmp_path)


def config(tmp_path: Path, model: Any, **run: Any) -> str:
    data = {"name": "fail-test", "model": model, "needles": [NEEDLE],
            "tokenizer": "tiktoken:cl100k_base",
            "grid": {"context_lengths": [200, 400], "depth_percents": [0, 50, 100]},
            "run": {"concurrency": 2, **run}}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def closed_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_a_server_that_is_not_listening_stops_the_run_with_one_line(
    tmp_path: Path, sleeps: list[float], capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    cfg = config(tmp_path, {"id": "openai-compatible/m", "base_url": url}, max_retries=6)
    assert main(["run", cfg, "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    failed = [line for line in err.splitlines() if line.startswith("niah: failed:")]
    assert len(failed) == 1
    assert "openai-compatible/m: cannot reach the endpoint after 3 attempts" in failed[0]
    assert f"{url}/chat/completions" in failed[0] and "connect" in failed[0]
    assert len(sleeps) <= 2 * 2  # two workers, at most two short backoffs each


def test_errors_are_printed_by_kind_and_a_run_that_all_failed_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sleeps: list[float]
) -> None:
    models = [{"id": "scripted/bad", "options": {"error_rate": 1.0, "error_kind": "permanent"}},
              "scripted/perfect"]
    cfg = config(tmp_path, models, max_error_rate=1.0)
    assert main(["run", cfg, "--out", str(tmp_path / "out")]) == 1
    printed = capsys.readouterr()
    kinds = [line for line in printed.err.splitlines() if line.startswith("scripted/bad: ")]
    assert len(kinds) == 1 and kinds[0].startswith("scripted/bad: ") and ": 6 (e.g. " in kinds[0]
    assert "niah: failed: scripted/bad: every trial failed" in printed.err
    rows = read_rows(tmp_path / "out")
    assert sum(r.model == "scripted/perfect" and r.score == 1.0 for r in rows) == 6


class OtherTokenizer(Backend):
    """A server whose tokenizer counts 1.5x niah's: its answers are right."""

    async def generate(self, request: Request) -> Completion:
        values = re.findall(r"magic number is (\d+)", request.messages[-1].content)
        return Completion(text=f"It is {values[0]}.", finish_reason="stop",
                          usage=Usage(prompt_tokens=int((request.prompt_tokens or 0) * 1.5)))


def test_a_token_count_mismatch_is_reported_after_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(registry._registered, "othertok", OtherTokenizer)
    cfg = config(tmp_path, "othertok/m")
    code = main(["run", cfg, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 0
    warning = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert len(warning) == 1
    assert "othertok/m: the server counted prompts differently from niah in 6 of 6 rows" \
        in warning[0]
    assert re.search(r"\(median ratio 1\.49\d\) \(niah counted in tiktoken:cl100k_base\)",
                     warning[0])
