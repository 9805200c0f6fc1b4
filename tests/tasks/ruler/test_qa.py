"""QA files: SQuAD and HotpotQA layouts read, a missing or wrong field named in one line."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from niah.errors import ConfigError
from niah.tasks.registry import get_task
from niah.tasks.ruler.qa import load_dataset
from tests.tasks.ruler.helpers import DATA, built, experiment

SQUAD = json.loads((DATA / "squad_tiny.json").read_text())
HOTPOT = json.loads((DATA / "hotpotqa_tiny.json").read_text())


def test_squad_layout_skips_impossible_questions_and_keeps_article_neighbours() -> None:
    ds = load_dataset((DATA / "squad_tiny.json").resolve(), "squad")
    assert len(ds.docs) == 5 and len(ds.questions) == 5  # one of six is impossible
    q = next(q for q in ds.questions if q.question.startswith("Who first lit"))
    assert q.answers == ("Orla Penhallow", "a keeper named Orla Penhallow")
    assert len(q.nearby) == 2  # the other paragraphs of "Lighthouses"
    assert "Orla Penhallow" in ds.docs[q.gold[0]]


def test_hotpotqa_layout_gives_every_paragraph_of_a_question() -> None:
    ds = load_dataset((DATA / "hotpotqa_tiny.json").resolve(), "hotpotqa")
    assert len(ds.docs) == 7  # Brackenford is shared by two questions
    assert [len(q.gold) for q in ds.questions] == [3, 2, 3]
    assert "Brackenford\nBrackenford is a market town. The River Wend" in ds.docs[
        ds.questions[0].gold[1]]


def test_every_gold_document_is_in_the_prompt() -> None:
    for task in ("qa_1", "qa_2"):
        exp = experiment(task, lengths=[500, 1500], repeats=3)
        layout = "squad" if task == "qa_1" else "hotpotqa"
        ds = load_dataset(exp.resolve_path(exp.task.options["path"]).resolve(), layout)
        for bp in built(exp):
            q = next(q for q in ds.questions if q.question == bp.needles[0].text)
            assert all(ds.docs[g] in bp.context for g in q.gold)


def _broken(tmp_path: Path, data: Any, task: str) -> ConfigError:
    path = tmp_path / f"{task}.json"
    path.write_text(json.dumps(data))
    exp = experiment(task, options={"path": str(path)})
    with pytest.raises(ConfigError) as info:
        get_task(exp.task.name).check(exp, exp.task.options)
    assert info.value.path == "task.options.path" and "\n" not in str(info.value)
    return info.value


def test_missing_squad_fields_are_named(tmp_path: Path) -> None:
    data = copy.deepcopy(SQUAD)
    del data["data"][1]["paragraphs"][0]["qas"][0]["question"]
    err = _broken(tmp_path, data, "qa_1")
    assert err.message == "qa_1.json: data[1].paragraphs[0].qas[0]: missing field 'question'"
    data = copy.deepcopy(SQUAD)
    data["data"][0]["paragraphs"][1]["context"] = 7
    err = _broken(tmp_path, data, "qa_1")
    assert err.message == "qa_1.json: data[0].paragraphs[1].context: expected str"
    assert "missing field 'data'" in _broken(tmp_path, HOTPOT, "qa_1").message


def test_missing_hotpotqa_fields_are_named(tmp_path: Path) -> None:
    data = copy.deepcopy(HOTPOT)
    del data[2]["answer"]
    assert _broken(tmp_path, data, "qa_2").message == "qa_2.json: [2]: missing field 'answer'"
    data = copy.deepcopy(HOTPOT)
    data[0]["context"][1] = ["Brackenford"]
    err = _broken(tmp_path, data, "qa_2")
    assert "[0].context[1]: expected [title, [sentences]]" in err.message


def test_unreadable_or_empty_files_are_config_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    exp = experiment("qa_1", options={"path": str(tmp_path / "bad.json")})
    with pytest.raises(ConfigError, match="not a readable JSON file"):
        get_task("ruler/qa_1").check(exp, exp.task.options)
    exp = experiment("qa_1", options={"path": str(tmp_path / "absent.json")})
    with pytest.raises(ConfigError, match="file not found"):
        get_task("ruler/qa_1").check(exp, exp.task.options)
    impossible = {"data": [{"paragraphs": [{"context": "x", "qas": [
        {"question": "q", "answers": [], "is_impossible": True}]}]}]}
    assert "no answerable question" in _broken(tmp_path, impossible, "qa_1").message


def test_the_layout_option_overrides_the_tasks() -> None:
    exp = experiment("qa_1", options={"path": str(DATA / "hotpotqa_tiny.json"),
                                      "layout": "hotpotqa"})
    assert built(exp)[0].needles[0].answer in {"River Wend", "yes", "Margery Holt"}
