"""A media haystack as a first-class experiment: config -> plan -> run -> rows -> report,
resume, cascades, window limits and bad input, through ``niah.cli.main`` on the fake
source (real PNG/WAV files) and the scripted backend."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from niah.analysis import load_results
from niah.cli.main import main
from niah.report.heatmap import plot_heatmap
from niah.results import RESULTS_FILE, read_rows
from tests.media import fakes

pytestmark = pytest.mark.usefixtures("fake_media")

WORD = r'The secret word is "(\w+)"'
KEYWORD = r"The secret keyword is (\w+)"
EYE = {"id": "scripted/eye", "options": {"media_forms": {"video": "frames"}, "pattern": WORD}}


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIAH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "160")
    monkeypatch.chdir(tmp_path)


def write(tmp_path: Path, model: Any = None, kind: str = "video", **extra: Any) -> str:
    data: dict[str, Any] = {
        "name": f"{kind}-test", "model": model or [EYE],
        "haystack": {"kind": kind},
        "grid": {"durations": ["30s", "1m", "2m"], "depth_percents": [0, 50, 100]},
        "run": {"concurrency": 2},
    }
    data.update(extra)
    path = tmp_path / f"{kind}.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_video_sweep_runs_records_seconds_and_draws_minutes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write(tmp_path)
    assert main(["plan", cfg]) == 0
    printed = capsys.readouterr().out
    assert "durations: 30s, 1m, 2m" in printed
    assert "120 frames in the longest trial" in printed
    assert "frames" in printed and "9 trials" in printed
    assert not fakes.BUILT  # plan estimates; it builds no media
    assert main(["run", cfg, "--out", "run"]) == 0
    rows = read_rows(tmp_path / "run")
    assert len(rows) == 9 and all(r.score == 1.0 for r in rows)
    assert {r.context_length for r in rows} == {30, 60, 120}
    assert all(r.length_unit == "seconds" for r in rows)
    deep = next(r for r in rows if r.context_length == 120 and r.requested_depth == 50)
    needle = deep.needles[0]
    assert (needle.time_s, needle.index) == (60.0, 60)  # frame 60 of 120 at 1 fps
    assert deep.actual_depth == pytest.approx(50.0)
    assert deep.prompt_tokens > 120 * 258  # 258 tokens a frame (the scripted fake counts as Gemini)
    assert deep.extra["media"] == {"form": "frames", "parts": 120,
                                   "bytes": deep.extra["media"]["bytes"]}
    assert main(["report", "run"]) == 0
    fig = plot_heatmap(load_results(tmp_path / "run"))
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Duration (minutes)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.5", "1", "2"]
    assert (tmp_path / "run" / "report" / "report.html").is_file()


def test_resume_sends_only_missing_trials_and_reuses_media(tmp_path: Path) -> None:
    cfg = write(tmp_path)
    assert main(["run", cfg, "--out", "run"]) == 0
    lines = (tmp_path / "run" / RESULTS_FILE).read_text().splitlines(keepends=True)
    (tmp_path / "run" / RESULTS_FILE).write_text("".join(lines[:4]))  # as if cut short
    kept = {(r.context_length, r.requested_depth) for r in read_rows(tmp_path / "run")}
    fakes.BUILT.clear()
    media_before = sorted(p.name for p in (tmp_path / "cache" / "media" / "trials").iterdir())
    assert main(["run", cfg, "--out", "run"]) == 0
    rows = read_rows(tmp_path / "run")
    assert len(rows) == 9 and len({r.trial_id for r in rows}) == 9
    built = {(round(d), depth) for d, depth, _ in fakes.BUILT}
    assert len(built) == 5 and not built & kept  # only the five missing trials are built
    media_after = sorted(p.name for p in (tmp_path / "cache" / "media" / "trials").iterdir())
    assert media_after == media_before  # content-addressed: the same files, none lost


def test_cascade_transcribes_then_asks_the_text_model(tmp_path: Path) -> None:
    reader = {"id": "ocr+scripted/reader", "options": {"pattern": WORD,
                                                       "transcriber": {"repeat": 1}}}
    cfg = write(tmp_path, model=[reader])
    assert main(["run", cfg, "--out", "run"]) == 0
    rows = read_rows(tmp_path / "run")
    assert len(rows) == 9 and all(r.score == 1.0 for r in rows), [r.error for r in rows]
    assert {b[2] for b in fakes.BUILT} == {"video"}  # the cascade takes the mp4 form
    longest = next(r for r in rows if r.context_length == 120)
    raw = longest.extra["raw"]
    assert raw["transcript_chars"] > 120 * 20 and len(raw["transcript_sha256"]) == 64
    assert longest.prompt_tokens_reported == longest.prompt_tokens + raw["transcript_tokens"]
    assert fakes.TRANSCRIBERS and fakes.TRANSCRIBERS[0].options == {"repeat": 1}


def test_a_rag_twin_of_a_cascade_reads_only_the_retrieved_transcript(tmp_path: Path) -> None:
    reader = {"id": "ocr+scripted/reader", "options": {"pattern": WORD}}
    twin = {"id": "rag/ocr+scripted/reader", "options": {"pattern": WORD},
            "rag": {"top_k": 2, "chunk_tokens": 64}}
    cfg = write(tmp_path, model=[reader, twin])
    assert main(["plan", cfg]) == 0
    assert main(["run", cfg, "--out", "run"]) == 0
    rows = read_rows(tmp_path / "run")
    full = {r.trial_id: r for r in rows if r.model == reader["id"]}
    rag = [r for r in rows if r.model == twin["id"]]
    assert len(rag) == 9 and len(full) == 9
    for row in rag:
        facts = row.extra["rag"]
        assert len(facts["retrieved"]) == min(2, facts["chunks"])
        assert facts["retrieved_tokens"] <= 2 * 64 + 64  # whole lines: one may run over
        assert facts["retrieved_tokens"] < facts["transcript_tokens"] or facts["chunks"] <= 2
        # the scripted reader finds the word iff retrieval kept its line
        assert row.score == facts["retrieval_recall"], facts
        assert row.needles[0].time_s == full[row.trial_id].needles[0].time_s  # same trial
        assert "text" not in facts and "rag" not in row.extra.get("raw", {})
    assert sum(r.score or 0 for r in rag) >= 7  # BM25 on "secret word" finds its line
    assert main(["report", "run"]) == 0


def test_a_transcript_too_long_for_the_window_is_a_gray_error_row(tmp_path: Path) -> None:
    reader = {"id": "asr+scripted/reader", "context_window": 2000,
              "options": {"pattern": KEYWORD, "transcriber": {"repeat": 3}}}
    cfg = write(tmp_path, model=[reader], kind="audio",
                run={"max_error_rate": 1.0, "concurrency": 1})
    assert main(["run", cfg, "--out", "run"]) == 0  # error rows are results, not a failed run
    rows = read_rows(tmp_path / "run")
    errors = [r for r in rows if r.error is not None]
    scored = [r for r in rows if r.score is not None]
    assert {r.context_length for r in errors} == {60, 120}
    assert {r.context_length for r in scored} == {30} and all(r.score == 1.0 for r in scored)
    kinds = {(r.error.kind, "the transcript is" in r.error.message) for r in errors if r.error}
    assert kinds == {("context_length_exceeded", True)}
    audio = next(r for r in scored if r.requested_depth == 100)
    assert (audio.needles[0].time_s, audio.needles[0].index) == (29.0, 29 * fakes.SAMPLE_RATE)
    fig = plot_heatmap(load_results(tmp_path / "run"))
    assert fig.axes[0].get_xlabel() == "Duration (minutes)"


def test_build_media_writes_files_and_lists_them(tmp_path: Path) -> None:
    cfg = write(tmp_path, grid={"durations": [5], "depth_percents": [40]})
    assert main(["build", cfg, "--out", "built.jsonl", "--media", "media"]) == 0
    (row,) = [json.loads(x) for x in (tmp_path / "built.jsonl").read_text().splitlines()]
    assert row["duration_s"] == 5 and row["form"] == "frames" and len(row["media"]) == 5
    assert row["needles"][0]["time_s"] == 2.0
    for part in row["media"]:
        path = Path(part["path"])
        assert path.parent == (tmp_path / "media").resolve()
        assert hashlib.sha256(path.read_bytes()).hexdigest() == part["sha256"]


@pytest.mark.parametrize(("model", "extra", "message"), [
    ("scripted/blind", {}, "model.id: scripted/blind takes no video input; use a model that "
                           "does, or the cascade ocr+scripted/blind"),
    ([EYE], {"haystack": {"kind": "video", "fps": 0}}, "haystack.fps: Input should be greater"),
    ([EYE], {"haystack": {"kind": "video", "path": "missing.mp4"}}, "haystack.path: cannot read"),
    ([EYE], {"grid": {"context_lengths": [1000], "durations": [30]}},
     "grid.context_lengths: a video haystack is swept over grid.durations"),
    ([EYE], {"grid": {"depth_percents": [50]}}, "grid.durations: required for a video haystack"),
    ("ocr+nosuch/x", {}, "unknown provider 'nosuch'"),
    ("rag/scripted/eye", {}, "RAG over a video haystack retrieves from a cascade's transcript"),
])
def test_bad_media_input_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], model: Any, extra: dict[str, Any],
    message: str,
) -> None:
    cfg = write(tmp_path, model=model, **extra)
    for command in (["plan", cfg], ["run", cfg, "--out", "run"]):
        assert main(command) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "run").exists()


def test_a_duration_longer_than_the_media_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fakes.MAX_DURATION["value"] = 90.0
    assert main(["plan", write(tmp_path)]) == 2
    assert "grid.durations: 120 s is longer than the video (90 s)" in capsys.readouterr().err
    cfg = write(tmp_path, haystack={"kind": "video", "too_short": "loop"})
    assert main(["plan", cfg]) == 0


def test_durations_flag_overrides_the_grid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", write(tmp_path), "--durations", "10s,0.5m", "--depths", "50"]) == 0
    assert "durations: 10s, 30s" in capsys.readouterr().out
    assert main(["plan", write(tmp_path), "--durations", "10q"]) == 2
    assert "--durations: expected a duration" in capsys.readouterr().err


def test_durations_on_a_text_haystack_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write(tmp_path, haystack={"kind": "generated"},
                needles={"text": "The special magic number is {value}."})
    assert main(["plan", cfg]) == 2
    assert "grid.durations: only for video or audio haystacks" in capsys.readouterr().err
