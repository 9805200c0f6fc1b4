"""Every shipped task config plans and dry-runs through the CLI (exit 0, no request)."""

from __future__ import annotations

from pathlib import Path

import pytest

from niah.cli.main import main

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs" / "ruler").glob("*.yaml"))


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_a_ruler_config_plans_and_dry_runs(config: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(config)]) == 0
    assert main(["run", str(config), "--dry-run", "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "trials" in out
    assert not (tmp_path / "run" / "results.jsonl").exists()  # a dry run sends nothing


def test_every_ruler_task_has_a_config() -> None:
    from niah.tasks.registry import task_names

    shipped = {p.stem for p in CONFIGS}
    assert {n.removeprefix("ruler/") for n in task_names() if n.startswith("ruler/")} == shipped
