"""Sharded runs in separate processes, merged, equal the unsharded run row for row."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from niah.cli.main import main
from niah.results import MANIFEST_FILE, ResultRow, read_manifest, read_rows

NEEDLE = {"text": "The special magic number is {value}.",
          "question": "What is the special magic number?"}
SAME = ("trial_id", "model", "context_length", "context_tokens", "prompt_tokens",
        "requested_depth", "actual_depth", "needles", "response", "score", "error",
        "prompt_sha256", "seed")


def config(path: Path, **changes: Any) -> Path:
    data = {"name": "shards", "model": ["scripted/perfect", "scripted/half"],
            "tokenizer": "tiktoken:cl100k_base", "needles": [NEEDLE],
            "grid": {"context_lengths": [200, 400, 800], "depth_percents": [0, 25, 50, 75, 100]},
            "run": {"concurrency": 2}, **changes}
    data["model"] = [data["model"][0], {"id": "scripted/half", "options": {"recall": 0.5}}]
    path.write_text(yaml.safe_dump(data))
    return path


def essence(rows: list[ResultRow]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r.model, r.trial_id): r.model_dump(include=set(SAME)) for r in rows}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    root = Path(__file__).resolve().parents[2]
    out = {**os.environ, "NIAH_CACHE_DIR": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    for name in ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN"):
        out.pop(name, None)
    return out


def test_four_shards_in_four_processes_merge_into_the_unsharded_run(
    tmp_path: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = config(tmp_path / "exp.yaml")
    monkeypatch.setenv("NIAH_CACHE_DIR", str(tmp_path / "cache-whole"))
    assert main(["run", str(cfg), "--out", str(tmp_path / "whole")]) == 0
    shards = [tmp_path / f"shard{i}" for i in range(1, 5)]
    procs = [subprocess.Popen([sys.executable, "-m", "niah", "run", str(cfg), "--shard",
                               f"{i}/4", "--out", str(d)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
             for i, d in enumerate(shards, 1)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    sizes = [len(read_rows(d)) for d in shards]
    assert sum(sizes) == 30 and all(sizes)
    manifest = read_manifest(shards[1])
    assert manifest is not None and manifest.shard == {"index": 2, "count": 4}
    capsys.readouterr()
    assert main(["merge", *map(str, shards), "--out", str(tmp_path / "merged")]) == 0
    assert "merged 30 rows" in capsys.readouterr().out
    merged = read_rows(tmp_path / "merged")
    assert essence(merged) == essence(read_rows(tmp_path / "whole"))
    assert len(merged) == 30
    assert main(["report", str(tmp_path / "merged")]) == 0
    # a missing shard is named, and nothing is written
    capsys.readouterr()
    assert main(["merge", *map(str, shards[:3]), "--out", str(tmp_path / "part")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "planned trial(s) missing" in err and "(shard 4/4)" in err
    assert not (tmp_path / "part" / MANIFEST_FILE).exists()
    assert main(["merge", *map(str, shards[:3]), "--out", str(tmp_path / "part"),
                 "--allow-missing"]) == 0


def test_runs_of_different_configs_or_splits_do_not_merge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NIAH_CACHE_DIR", str(tmp_path / "cache"))
    a = config(tmp_path / "a.yaml")
    b = config(tmp_path / "b.yaml", seed=1)
    assert main(["run", str(a), "--shard", "1/2", "--out", str(tmp_path / "a1")]) == 0
    assert main(["run", str(b), "--shard", "2/2", "--out", str(tmp_path / "b2")]) == 0
    assert main(["run", str(a), "--shard", "2/3", "--out", str(tmp_path / "a2of3")]) == 0
    capsys.readouterr()
    assert main(["merge", str(tmp_path / "a1"), str(tmp_path / "b2"), "--out",
                 str(tmp_path / "m")]) == 2
    assert "a run of another config" in capsys.readouterr().err
    assert main(["merge", str(tmp_path / "a1"), str(tmp_path / "a2of3"), "--out",
                 str(tmp_path / "m")]) == 2
    assert "shards of different splits (2, 3)" in capsys.readouterr().err
    assert main(["run", str(a), "--shard", "5/4"]) == 2
    assert "--shard: '5/4': I must be between 1 and N" in capsys.readouterr().err
    # a shard directory resumes only as the same shard
    assert main(["run", str(a), "--shard", "2/2", "--out", str(tmp_path / "a1")]) == 2
    assert "holds shard 1/2, not shard 2/2" in capsys.readouterr().err
