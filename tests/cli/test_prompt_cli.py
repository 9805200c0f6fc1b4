"""``niah prompt``: a stored trial's prompt, rebuilt from the manifest, hash-checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from niah.cli.main import main
from niah.results import read_rows


@pytest.fixture
def finished_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("NIAH_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "cfg" / "texts").mkdir(parents=True)
    prose = " ".join(f"Sentence number {w} tells of the river and the hill." for w in
                     ("one", "two", "three", "four", "five", "six", "seven", "eight") * 40)
    (tmp_path / "cfg" / "texts" / "a.txt").write_text(prose)
    cfg = tmp_path / "cfg" / "exp.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "prompt-test", "model": ["scripted/perfect", "scripted/other"],
        "tokenizer": "tiktoken:cl100k_base",
        "haystack": {"kind": "files", "path": "texts"},  # relative to the config's folder
        "needles": [{"text": "The special magic number is {value}.",
                     "question": "What is the special magic number?"}],
        "grid": {"context_lengths": [300, 600], "depth_percents": [0, 50, 100]},
    }))
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out)]) == 0
    monkeypatch.chdir(tmp_path / "out")  # far from the config: paths come from the manifest
    return cfg, out


def test_a_stored_prompt_is_rebuilt_byte_for_byte(
    finished_run: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, out = finished_run
    row = next(r for r in read_rows(out) if r.model == "scripted/other")
    capsys.readouterr()
    assert main(["prompt", str(out), row.trial_id[:8], "--model", "scripted/other",
                 "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["prompt_sha256"] == row.prompt_sha256
    assert printed["needles"][0]["answer"] == row.needles[0].answer
    assert row.needles[0].text in printed["messages"][-1]["content"]
    assert main(["prompt", str(out), row.trial_id, "--model", "scripted/other"]) == 0
    text = capsys.readouterr()
    assert text.out.startswith("--- system ---\n") and "matches the stored row" in text.err


def test_changed_inputs_ambiguous_and_unknown_trials_are_said_in_one_line(
    finished_run: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, out = finished_run
    row = read_rows(out)[0]
    capsys.readouterr()
    assert main(["prompt", str(out), row.trial_id]) == 2  # two models ran this trial
    assert "is ambiguous" in capsys.readouterr().err
    assert main(["prompt", str(out), "zzzz"]) == 2
    assert "TRIAL 'zzzz': no such trial" in capsys.readouterr().err
    text = cfg.parent / "texts" / "a.txt"
    text.write_text(text.read_text().replace("river", "stream"))
    assert main(["prompt", str(out), row.trial_id, "--model", row.model]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "differs from the stored" in err
