"""gkamradt results -> niah results: nothing lost, scores mapped, then drawn like any run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from niah.analysis import load_results
from niah.errors import UserError
from niah.importers import gkamradt_rows, import_gkamradt, read_gkamradt
from niah.report.build import build_report
from niah.results import ResultRow

DATA = Path(__file__).parent / "data" / "gkamradt"


def originals(folder: str) -> list[dict[str, object]]:
    path = DATA / folder
    if folder == "v2":
        return [json.loads(line) for line in (path / "results.jsonl").read_text().splitlines()]
    return [json.loads(p.read_text()) for p in sorted(path.glob("*.json"))]


@pytest.mark.parametrize("folder", ["v1", "v2"])
def test_import_round_trips_every_record(tmp_path: Path, folder: str) -> None:
    target, count = import_gkamradt(DATA / folder, tmp_path / "run")
    source = originals(folder)
    assert count == len(source)
    rows = [ResultRow.model_validate_json(line) for line in target.read_text().splitlines()]
    assert sorted(json.dumps(r.extra["gkamradt"], sort_keys=True) for r in rows) == sorted(
        json.dumps(s, sort_keys=True) for s in source)
    for row in rows:
        raw = row.extra["gkamradt"]
        assert row.model == f"gkamradt/{raw['model']}"
        assert row.context_length == raw["context_length"]
        assert row.requested_depth == raw["depth_percent"]
        assert row.response == raw["model_response"]
        assert row.latency_s == raw.get("test_duration_seconds")
        if raw["score"] is None:
            assert row.score is None and row.error is not None
            assert row.error.kind == "missing_score"
        else:
            assert row.score == pytest.approx(raw["score"] / 10) and row.error is None
    assert len({(r.model, r.trial_id) for r in rows}) == len(rows)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["imported_from"]["format"] == "gkamradt"


def test_repeats_timestamps_and_needles(tmp_path: Path) -> None:
    rows = gkamradt_rows(read_gkamradt(DATA / "v1"))
    cell = sorted((r for r in rows if r.context_length == 16000 and r.requested_depth == 50),
                  key=lambda r: r.repeat)
    assert [(r.repeat, r.extra["gkamradt"]["version"], r.score) for r in cell] == [
        (0, 1, 0.1), (1, 2, 0.5)]
    first = next(r for r in rows if r.context_length == 1000 and r.requested_depth == 0)
    assert first.timestamp == "2023-11-08T21:14:03+00:00"
    assert first.needles[0].text.startswith("The best thing to do in San Francisco")
    assert first.needles[0].actual_depth == 0.0
    oldest = next(r for r in rows if r.model == "gkamradt/claude-2.1")
    assert oldest.requested_depth == 11.316 and oldest.timestamp == "" and oldest.latency_s is None
    multi = next(r for r in gkamradt_rows(read_gkamradt(DATA / "v2")) if len(r.needles) > 1)
    assert [n.actual_depth for n in multi.needles] == [19.7, 46.5, 73.2]
    assert multi.needles[1].token_offset == round(0.465 * 4000)


def test_provider_and_experiment_are_set(tmp_path: Path) -> None:
    rows = gkamradt_rows(read_gkamradt(DATA / "v2"), provider="anthropic", experiment="old")
    assert {r.model for r in rows} == {"anthropic/claude-3-opus-20240229"}
    assert {r.experiment for r in rows} == {"old"}


def test_imported_runs_load_and_report(tmp_path: Path) -> None:
    import_gkamradt(DATA / "v1", tmp_path / "run")
    df = load_results(tmp_path / "run")
    assert set(df["model"]) == {"gkamradt/gpt-4-1106-preview", "gkamradt/claude-2.1"}
    report = build_report([tmp_path / "run"])
    page = (report.out_dir / "report.html").read_text()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert (report.out_dir / "heatmap_gkamradt_gpt-4-1106-preview.png").is_file()


def test_existing_results_are_never_overwritten(tmp_path: Path) -> None:
    import_gkamradt(DATA / "v1", tmp_path / "run")
    before = (tmp_path / "run" / "results.jsonl").read_bytes()
    with pytest.raises(UserError, match="already exists"):
        import_gkamradt(DATA / "v2", tmp_path / "run")
    assert (tmp_path / "run" / "results.jsonl").read_bytes() == before


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.json", '{"model": "m", "depth_percent": 5}', "a.json: context_length: Field required"),
        ("b.json", "{not json", "b.json: not valid JSON"),
        ("c.jsonl", '{"model": "m", "context_length": 9, "depth_percent": 1}\n[1]\n',
         "c.jsonl:2: expected a JSON object"),
        ("d.json", '{"model": "m", "context_length": 9, "depth_percent": 120}',
         "d.json: depth_percent"),
    ],
)
def test_bad_records_name_the_file_and_field(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(UserError, match=message):
        gkamradt_rows(read_gkamradt(tmp_path))


def test_missing_or_empty_sources(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such file or directory"):
        read_gkamradt(tmp_path / "nope")
    with pytest.raises(UserError, match=r"no \.json or \.jsonl result files"):
        read_gkamradt(tmp_path)
