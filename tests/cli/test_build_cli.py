"""``niah build``: one exact, auditable JSON prompt per trial, byte-identical across builds."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from niah.cli.main import main
from niah.config import load_experiment
from niah.plan import plan
from niah.tokenizers import load_tokenizer

NEEDLE = {"text": "The special magic number is {value}.",
          "question": "What is the special magic number?"}
FIELDS = {"trial_id", "context_length", "requested_depth", "actual_depth", "context",
          "context_tokens", "messages", "needles", "prompt_sha256"}


def config(tmp_path: Path, name: str = "exp.yaml", **top: Any) -> str:
    data = {"name": "build-test", "model": "scripted/perfect", "needles": [NEEDLE],
            "grid": {"context_lengths": [300, 1000, 2500], "depth_percents": [0, 33, 70, 100]},
            **top}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return str(path)


def build(argv: list[str], capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    out = Path(argv[argv.index("--out") + 1])
    assert main(["build", *argv]) == 0
    printed = capsys.readouterr()
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert printed.out.strip() == f"wrote {len(rows)} prompts to {out}"
    return rows


@pytest.fixture(scope="module")
def cl100k() -> Any:
    return load_tokenizer("tiktoken:cl100k_base")


def test_one_row_per_trial_with_the_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           cl100k: Any) -> None:
    path = config(tmp_path)
    rows = build([path, "--out", str(tmp_path / "p.jsonl")], capsys)
    trials = plan(load_experiment(path))
    assert [r["trial_id"] for r in rows] == [t.trial_id for t in trials]
    for row, trial in zip(rows, trials, strict=True):
        assert set(row) >= FIELDS
        assert row["context_length"] == trial.context_length
        assert row["requested_depth"] == trial.requested_depth
        assert row["model"] == "scripted/perfect" and row["tokenizer"] == "tiktoken:cl100k_base"
        # exact length, re-counted from scratch
        assert row["context_tokens"] == row["context_length"] == cl100k.count(row["context"])
        assert row["prompt_tokens"] > row["context_tokens"]
        [needle] = row["needles"]
        assert set(needle) >= {"text", "answer", "token_offset"}
        assert needle["text"] == f"The special magic number is {needle['answer']}."
        assert row["context"].count(needle["text"]) == 1
        assert row["question"] == NEEDLE["question"]


def test_messages_hold_the_context_and_question(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    rows = build([config(tmp_path), "--out", str(tmp_path / "p.jsonl")], capsys)
    for row in rows:
        system, user = row["messages"]
        assert system["role"] == "system" and user["role"] == "user"
        assert row["context"] in user["content"] and NEEDLE["question"] in user["content"]
        # anyone can re-derive the hash from the recorded messages: role NUL content NUL ...
        canonical = b"".join(m[k].encode() + b"\0" for m in row["messages"]
                             for k in ("role", "content"))
        assert row["prompt_sha256"] == hashlib.sha256(canonical).hexdigest()
    assert len({r["prompt_sha256"] for r in rows}) == len(rows)


def test_needle_offsets_and_depths(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   cl100k: Any) -> None:
    rows = build([config(tmp_path), "--out", str(tmp_path / "p.jsonl")], capsys)
    for row in rows:
        context = row["context"]
        [needle] = row["needles"]
        tokens = cl100k.encode(context)
        before = cl100k.decode(tokens[: needle["token_offset"]])
        at = context.index(needle["text"])
        assert context.startswith(before)
        assert at - len(before) in (0, 1)  # the needle's token may carry its leading space
        depth, actual = row["requested_depth"], row["actual_depth"]
        if depth == 0:
            assert at == 0 and actual == 0
        elif depth == 100:
            assert context.endswith(needle["text"]) and actual == 100
        else:
            # at the sentence boundary at or before the depth: at most a sentence early
            assert depth - 60 / row["context_length"] * 100 <= actual <= depth
            assert context[at - 2 : at] in (". ", '" ', "\n\n") or context[at - 1] == " "


def test_several_needles(tmp_path: Path, capsys: pytest.CaptureFixture[str], cl100k: Any) -> None:
    path = config(tmp_path, needles=[{**NEEDLE, "count": 3}],
                  grid={"context_lengths": [600, 1500], "depth_percents": [0, 40]})
    rows = build([path, "--out", str(tmp_path / "p.jsonl")], capsys)
    for row in rows:
        assert row["context_tokens"] == row["context_length"] == cl100k.count(row["context"])
        needles = row["needles"]
        assert len(needles) == 3 and len({n["answer"] for n in needles}) == 3
        offsets = [n["token_offset"] for n in needles]
        assert offsets == sorted(offsets) and len(set(offsets)) == 3
        positions = [row["context"].index(n["text"]) for n in needles]
        assert positions == sorted(positions)


def test_two_builds_are_byte_identical(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = config(tmp_path)
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    build([path, "--out", str(first)], capsys)
    build([path, "--out", str(second)], capsys)
    assert first.read_bytes() == second.read_bytes()
    other_seed = tmp_path / "c.jsonl"
    build([path, "--out", str(other_seed), "--set", "seed=1"], capsys)
    assert other_seed.read_bytes() != first.read_bytes()


def test_every_model_gets_its_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = config(tmp_path, grid={"context_lengths": [300], "depth_percents": [0, 100]})
    rows = build([path, "--out", str(tmp_path / "p.jsonl"), "--model", "scripted/a",
                  "--model", "scripted/b"], capsys)
    assert [r["model"] for r in rows] == ["scripted/a"] * 2 + ["scripted/b"] * 2
    assert [r["trial_id"] for r in rows[:2]] == [r["trial_id"] for r in rows[2:]]


def test_out_replaces_an_old_file_and_leaves_no_temp(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "p.jsonl").write_text("old\n")
    rows = build([config(tmp_path), "--out", str(out / "p.jsonl")], capsys)
    assert len(rows) == 12
    assert [p.name for p in out.iterdir()] == ["p.jsonl"]


@pytest.mark.parametrize("where", ["missing/p.jsonl", "."])
def test_bad_out_exits_2_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            where: str) -> None:
    path = config(tmp_path)
    assert main(["build", path, "--out", str(tmp_path / where)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("niah: error: --out: ")
    assert [p.name for p in tmp_path.iterdir()] == ["exp.yaml"]
