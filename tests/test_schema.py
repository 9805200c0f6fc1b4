"""``niah schema``: the JSON Schema accepts every shipped config and rejects typos."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from niah.cli.main import main
from niah.config import load_experiment
from niah.schema import experiment_schema

CONFIGS = [p for p in sorted((Path(__file__).resolve().parents[1] / "configs").rglob("*.yaml"))
           if "corpora" not in yaml.safe_load(p.read_text())]
"""Experiment configs (``niah nll`` configs, which list ``corpora``, have their own model)."""


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = experiment_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_is_valid(
    path: Path, validator: jsonschema.Draft202012Validator
) -> None:
    data = yaml.safe_load(path.read_text())
    assert list(validator.iter_errors(data)) == []


def test_shorthands_are_valid_and_internal_keys_and_typos_are_not(
    validator: jsonschema.Draft202012Validator,
) -> None:
    short = {"name": "x", "model": "openai/gpt-4o", "grid": {"context_lengths": ["1K", 32768]},
             "needles": {"text": "The number is {value}.", "question": "Which number?"},
             "run": {"temperature": None}}
    assert list(validator.iter_errors(short)) == []
    load_experiment(short)  # and pydantic agrees
    for bad in ({**short, "base_dir": "."}, {**short, "needle": {}},
                {**short, "run": {"max_tokens": 0}},
                {**short, "model": {"id": "openai/gpt-4o", "optionz": {}}}):
        assert list(validator.iter_errors(bad)), bad
    assert "base_dir" not in json.dumps(experiment_schema())


def test_fields_carry_their_docs() -> None:
    run = experiment_schema()["$defs"]["RunSpec"]["properties"]
    assert "truncates" in run["max_tokens"]["description"]


def test_the_command_prints_or_writes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == experiment_schema()
    assert main(["schema", "--out", str(tmp_path / "niah.schema.json")]) == 0
    assert json.loads((tmp_path / "niah.schema.json").read_text()) == experiment_schema()
    assert main(["schema", "--out", str(tmp_path / "missing" / "x.json")]) == 2
