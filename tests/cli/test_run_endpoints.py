"""``niah run`` with several endpoints: bad lists exit 2 in one line; a good one runs."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from niah.cli.main import main
from niah.results import MANIFEST_FILE, read_rows
from tests.fakes.endpoint_server import EndpointServer

NEEDLE = {"text": "The special magic number is {value}.",
          "question": "What is the special magic number?"}


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIAH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "160")
    monkeypatch.chdir(tmp_path)


def config(tmp_path: Path, model: dict[str, Any]) -> str:
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({
        "name": "endpoints-cli", "model": model, "tokenizer": "tiktoken:cl100k_base",
        "needles": [NEEDLE], "grid": {"context_lengths": [200, 400],
                                      "depth_percents": [0, 50, 100]},
        "run": {"concurrency": 2},
    }))
    return str(path)


@pytest.mark.parametrize(("model", "line"), [
    ({"base_url": []},
     "niah: error: model[0].base_url: an empty list names no server: give a URL or a list "
     "of URLs"),
    ({"endpoints": []},
     "niah: error: model[0].endpoints: an empty list names no server: give one or more "
     "{base_url: URL}"),
    ({"endpoints": [{"base_url": "http://a/v1"}, {"base_url": "http://a/v1/"}]},
     "niah: error: model[0].endpoints: 'http://a/v1' is listed twice"),
    ({"base_url": "http://a/v1", "endpoints": [{"base_url": "http://b/v1"}]},
     "niah: error: model[0].endpoints: give base_url or endpoints, not both"),
    ({"endpoints": [{"base_url": "http://a/v1", "concurrency": 0}]},
     "niah: error: model[0].endpoints[0].concurrency: Input should be greater than or equal "
     "to 1"),
    ({"base_url": ["http://a/v1", "ftp://b"]},
     "niah: error: model[0].endpoints[1].base_url: must start with http:// or https://, "
     "got 'ftp://b'"),
])
@pytest.mark.parametrize("command", ["run", "plan"])
def test_bad_endpoint_lists_exit_2_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], model: dict[str, Any], line: str,
    command: str,
) -> None:
    cfg = config(tmp_path, {"id": "openai-compatible/fake", **model})
    assert main([command, cfg]) == 2
    err = capsys.readouterr().err
    assert err.strip() == line
    assert not (tmp_path / "results").exists()


def test_a_run_over_two_servers_records_who_answered_without_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    with EndpointServer(hold_s=0.005) as a, EndpointServer(hold_s=0.005) as b:
        secret = a.base_url.replace("http://", "http://user:hunter2@")
        assert main(["run", config(tmp_path, {"id": "openai-compatible/fake",
                                              "base_url": [secret, b.base_url]}),
                     "--out", str(out)]) == 0
        answered = {a.base_url: a.answered, b.base_url: b.answered}
    rows = read_rows(out)
    assert len(rows) == 6 and all(r.score == 1.0 for r in rows)
    assert Counter(r.extra["endpoint"] for r in rows) == Counter(answered)
    assert "hunter2" not in (out / "results.jsonl").read_text()
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["models"][0]["backend"]["endpoints"] == [a.base_url, b.base_url]
    assert "recall" in capsys.readouterr().out.lower()
