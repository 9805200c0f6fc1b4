"""``niah rescore --scoring judge`` and a judge in ``niah plan``, through the real CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from niah.cli.main import main
from niah.results import read_rows
from tests.fakes.openai_server import FakeOpenAIServer
from tests.test_judge import fair_judge
from tests.test_rejudge import deterministic_run


def test_rescore_judge_from_the_command_line(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = deterministic_run(tmp_path)
    with FakeOpenAIServer(reply=fair_judge) as judge:
        model = f"{{id: openai-compatible/judge, base_url: '{judge.base_url}'}}"
        code = main(["rescore", str(run_dir), "--judge-model", model, "--rubric", "gkamradt"])
        assert code == 0 and judge.stats["requests"] == 6
        assert main(["rescore", str(run_dir), "--scoring", "judge"]) == 0  # the run's judge
        assert judge.stats["requests"] == 6  # every verdict came from the cache
    assert "rescored 6 rows" in capsys.readouterr().out
    rows = read_rows(run_dir)
    assert all(r.judge is not None and r.judge.verdict in (1, 10) for r in rows)


@pytest.mark.parametrize(("args", "expect"), [
    (["--scoring", "judge"], "scoring.model: is required when scoring.kind is judge"),
    (["--judge-model", "openai/x", "--rubric", "strict"], "scoring.rubric: unknown rubric"),
    (["--judge-model", "{id: [", "--rubric", "binary"], "--judge-model: is not a valid YAML"),
])
def test_bad_judge_arguments_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], expect: str
) -> None:
    run_dir = deterministic_run(tmp_path)
    before = (run_dir / "results.jsonl").read_bytes()
    assert main(["rescore", str(run_dir), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert expect in err and len(err.splitlines()) == 1
    assert (run_dir / "results.jsonl").read_bytes() == before


@pytest.mark.parametrize(("judge", "expect"), [
    ("nosuch/judge", "scoring.model.id: unknown provider 'nosuch'"),
    ({"id": "scripted/j", "options": {"recal": 1}}, "scoring.model.options.recal"),
])
def test_plan_checks_the_judge_model_like_any_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], judge: Any, expect: str
) -> None:
    config = {"name": "j", "model": "scripted/perfect",
              "needles": [{"text": "The special magic number is {value}."}],
              "grid": {"context_lengths": [200], "depth_percents": [50]},
              "scoring": {"kind": "judge", "model": judge}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["plan", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert expect in err and len(err.splitlines()) == 1
