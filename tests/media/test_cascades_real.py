"""The offline cascades for real, through ``niah run`` and ``niah report``: a generated
video read by rapidocr, synthesized speech heard by pocketsphinx, each transcript
answered by the embedded SmolLM2-135M (one thread). Small grids: these are the
end-to-end checks of the committed examples (``configs/video-quickstart.yaml``,
``configs/audio-quickstart.yaml``), not their figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from niah.cli.main import main
from niah.results import read_rows

pytestmark = pytest.mark.slow
CONFIGS = Path(__file__).resolve().parents[2] / "configs"
ONE_THREAD = {"n_threads": 1, "n_threads_batch": 1}


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIAH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def _quickstart(name: str, durations: list[str], depths: list[float]) -> str:
    data: dict[str, Any] = yaml.safe_load((CONFIGS / name).read_text())
    data["model"] = data["model"][:1]  # the cascade (the audio config's RAG twin aside)
    data["model"][0]["options"] = {**data["model"][0]["options"], **ONE_THREAD}
    data["grid"].update({"durations": durations, "depth_percents": depths})
    path = Path(name)
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_ocr_cascade_finds_the_secret_word_in_a_generated_video(tmp_path: Path) -> None:
    cfg = _quickstart("video-quickstart.yaml", ["20s"], [0, 100])
    assert main(["run", cfg, "--out", "run"]) == 0
    rows = read_rows(tmp_path / "run")
    assert len(rows) == 2 and all(r.error is None for r in rows), [r.error for r in rows]
    for row in rows:
        needle = row.needles[0]
        assert row.length_unit == "seconds" and row.context_length == 20
        assert needle.time_s is not None and needle.index is not None
        assert row.extra["raw"]["transcript_chars"] > 0
    assert {r.needles[0].index for r in rows} == {0, 19}  # first and last frame
    assert sum(r.score or 0 for r in rows) >= 1, [r.response for r in rows]
    assert main(["report", "run"]) == 0
    assert (tmp_path / "run" / "report" / "report.html").exists()


def test_asr_cascade_hears_the_spoken_keyword_in_synthesized_speech(tmp_path: Path) -> None:
    cfg = _quickstart("audio-quickstart.yaml", ["30s"], [50])
    assert main(["run", cfg, "--out", "run"]) == 0
    (row,) = read_rows(tmp_path / "run")
    assert row.error is None, row.error
    needle = row.needles[0]
    assert row.length_unit == "seconds" and needle.time_s is not None
    assert 0 < needle.time_s < 30 and needle.index == round(needle.time_s * 16_000)
    assert row.extra["raw"]["transcript_chars"] > 0
    assert row.score is not None  # scored (found or missed), never an error
    assert main(["report", "run"]) == 0
