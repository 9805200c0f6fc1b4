"""The task registry: the default task, unknown names, options checked by the task, a
third party's task through the ``niah.tasks`` entry point, and the CLI's one-line errors."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from pydantic import BaseModel, ConfigDict

from niah.cli.main import main
from niah.config import Experiment, ModelSpec, ScoringSpec, load_experiment
from niah.errors import ConfigError
from niah.prompt import Builder, BuiltPrompt
from niah.scoring import Grade
from niah.tasks import registry
from niah.tasks.needle import NeedleTask

NEEDLE = {"text": "The special magic number is {value}.",
          "question": "What is the special magic number?"}


def write(tmp_path: Path, **top: Any) -> str:
    data = {"name": "tasks", "model": "scripted/perfect", "needles": [NEEDLE],
            "grid": {"context_lengths": [300], "depth_percents": [50]}, **top}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_needle_is_the_default_and_registered() -> None:
    assert "needle" in registry.task_names()
    task, options = registry.task_options(load_experiment(
        {"name": "x", "model": "scripted/a", "needles": NEEDLE}).task)
    assert isinstance(task, NeedleTask) and options.score_cut_replies is False


@pytest.mark.parametrize(("task", "message"), [
    ("nope", "task.name: unknown task 'nope'; known: needle"),
    ({"name": "needle", "options": {"score_cut_reply": True}},
     "task.options.score_cut_reply: unknown key; did you mean 'score_cut_replies'?"),
    ({"name": "needle", "options": {"score_cut_replies": "sometimes"}},
     "task.options.score_cut_replies: Input should be a valid boolean"),
])
@pytest.mark.parametrize("command", ["plan", "run --dry-run", "build --out x.jsonl"])
def test_bad_task_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    task: Any, message: str, command: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    code = main([*command.split()[:1], write(tmp_path, task=task), *command.split()[1:]])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith(f"niah: error: {message}") and err.count("\n") == 1, err


class EchoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    word: str = "sesame"


class EchoTask:
    """A third party's task: the needle task's prompts, graded by one fixed word."""

    name: ClassVar[str] = "echo"
    options_model: ClassVar[type[BaseModel] | None] = EchoOptions
    checked: ClassVar[list[str]] = []

    def check(self, experiment: Experiment, options: Any) -> None:
        self.checked.append(options.word)

    def builder(self, experiment: Experiment, model: ModelSpec, options: Any) -> Builder:
        return NeedleTask().builder(experiment, model, None)

    def grade(self, bp: BuiltPrompt, response: str, finish_reason: str | None,
              scoring: ScoringSpec, options: Any) -> Grade:
        hit = options.word in response
        return Grade(1.0 if hit else 0.0, [hit] * len(bp.needles))


def test_a_task_from_an_entry_point_runs_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    ep = EntryPoint(name="echo", value=f"{__name__}:EchoTask", group=registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points",
                        lambda group: [ep] if group == registry.ENTRY_POINT_GROUP else [])
    monkeypatch.setattr(registry, "_loaded", {})
    monkeypatch.chdir(tmp_path)
    names = registry.task_names()
    assert {"echo", "needle", "ruler/vt"} <= set(names) and names == sorted(names)
    cfg = write(tmp_path, task={"name": "echo", "options": {"word": "magic"}})
    assert main(["run", cfg, "--out", "run"]) == 0
    assert EchoTask.checked == ["magic", "magic"]  # the CLI's check, then run's
    from niah.results import read_rows
    rows = read_rows(tmp_path / "run")
    assert [r.score for r in rows] == [1.0]  # the scripted model says "... magic number ..."
    # rescore grades through the stored experiment's task too
    assert main(["rescore", "run", "--scoring", "exact"]) == 0
    assert [r.score for r in read_rows(tmp_path / "run")] == [1.0]
    capsys.readouterr()


def test_task_options_error_names_the_key() -> None:
    exp = load_experiment({"name": "x", "model": "scripted/a", "needles": NEEDLE,
                           "task": {"name": "needle", "options": {"bogus": 1}}})
    with pytest.raises(ConfigError, match=r"^task\.options\.bogus: unknown key"):
        registry.check_task(exp)


def test_schema_lists_the_task_names() -> None:
    from niah.schema import experiment_schema

    name = experiment_schema()["$defs"]["TaskSpec"]["properties"]["name"]
    assert name["examples"] == registry.task_names() and "needle" in name["examples"]
    assert "Known: needle" in name["description"]
