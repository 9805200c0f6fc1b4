"""gkamradt results -> niah results: nothing lost, scores mapped, then drawn like any run.

Both of his published layouts are round-tripped from small excerpts of
``original_results/`` (tests/data/gkamradt/original_results): his Claude 2.1 test
records and his GPT-4 Turbo score lists, which name no model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from niah import importers
from niah.analysis import load_results
from niah.errors import UserError
from niah.importers import (
    JUDGE_KEY,
    gkamradt_rows,
    import_gkamradt,
    judge_to_score,
    read_files,
    read_gkamradt,
    read_report,
)
from niah.report.build import build_report
from niah.results import ResultRow

DATA = Path(__file__).parent / "data" / "gkamradt"
ORIGINAL = DATA / "original_results"
ANTHROPIC = ORIGINAL / "Anthropic_Original_Results"
OPENAI = ORIGINAL / "OpenAI_Original_Results"


def originals(folder: str) -> list[dict[str, object]]:
    path = DATA / folder
    if folder == "v2":
        return [json.loads(line) for line in (path / "results.jsonl").read_text().splitlines()]
    return [json.loads(p.read_text()) for p in sorted(path.glob("*.json"))]


def read_back(target: Path) -> list[ResultRow]:
    return [ResultRow.model_validate_json(line) for line in target.read_text().splitlines()]


@pytest.mark.parametrize("folder", ["v1", "v2", "original_results/Anthropic_Original_Results"])
def test_import_round_trips_every_record(tmp_path: Path, folder: str) -> None:
    imported = import_gkamradt(DATA / folder, tmp_path / "run")
    target = imported.target
    source = originals(folder)
    assert imported.rows == len(source)
    rows = read_back(target)
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
            assert row.error.kind == "missing_score" and JUDGE_KEY not in row.extra
        else:
            assert row.extra[JUDGE_KEY] == raw["score"]
            assert row.score == pytest.approx((raw["score"] - 1) / 9) and row.error is None
    assert len({(r.model, r.trial_id) for r in rows}) == len(rows)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["imported_from"]["format"] == "gkamradt"


def test_repeats_timestamps_and_needles(tmp_path: Path) -> None:
    rows = gkamradt_rows(read_gkamradt(DATA / "v1"))
    cell = sorted((r for r in rows if r.context_length == 16000 and r.requested_depth == 50),
                  key=lambda r: r.repeat)
    assert [(r.repeat, r.extra["gkamradt"]["version"], r.extra[JUDGE_KEY]) for r in cell] == [
        (0, 1, 1), (1, 2, 5)]
    assert [r.score for r in cell] == [0.0, pytest.approx(4 / 9)]
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


def test_judge_scores_map_1_to_0_and_10_to_1() -> None:
    assert [judge_to_score(s) for s in (1, 3, 5.5, 10)] == [0.0, pytest.approx(2 / 9), 0.5, 1.0]
    assert judge_to_score(0) == 0.0 and judge_to_score(11) == 1.0  # clipped


def test_score_lists_round_trip_with_the_model_from_the_command_line(tmp_path: Path) -> None:
    imported = import_gkamradt(OPENAI, tmp_path / "run", model="gpt-4-1106-preview")
    rows = read_back(imported.target)
    lists = {p.name: json.loads(p.read_text()) for p in sorted(OPENAI.glob("*.json"))}
    assert imported.rows == sum(len(x) for x in lists.values()) == 15
    assert {r.model for r in rows} == {"gkamradt/gpt-4-1106-preview"}
    originals = sorted(json.dumps(x, sort_keys=True) for x in lists.values() for x in x)
    assert sorted(json.dumps(r.extra["gkamradt"], sort_keys=True) for r in rows) == originals
    for row in rows:
        raw = row.extra["gkamradt"]
        assert set(raw) == {"token_limit", "depth_percent", "score"}
        assert (row.context_length, row.requested_depth) == (raw["token_limit"],
                                                             raw["depth_percent"])
        assert row.extra[JUDGE_KEY] == raw["score"]
        assert row.score == pytest.approx((raw["score"] - 1) / 9)
        assert row.needles == [] and row.response is None and row.error is None
        assert row.extra["estimated"] is True and row.usage.completion_tokens is None
    # the second file re-ran the long lengths: those cells hold two repeats, file 1 first
    cell = sorted((r for r in rows if r.context_length == 128000 and r.requested_depth == 14),
                  key=lambda r: r.repeat)
    assert [(r.repeat, r.extra["source_file"], r.extra[JUDGE_KEY]) for r in cell] == [
        (0, "OpenAI_OriginalResults.json[8]", 1), (1, "OpenAI_OriginalResults_2.json[5]", 10)]
    assert len({(r.model, r.trial_id) for r in rows}) == len(rows)


def test_a_score_list_without_a_model_name_is_refused_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(UserError) as info:
        import_gkamradt(OPENAI, tmp_path / "run")
    assert str(info.value) == (
        "OpenAI_OriginalResults.json[0]: model: the file names no model; give it with "
        "--model NAME (e.g. --model gpt-4-1106-preview)")
    assert not (tmp_path / "run").exists()


def test_the_published_files_are_named_as_his_figure_names_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the real files are recognised by their sha256; stand the excerpts in for them
    hashes = {f.sha256: "gpt-4-1106-preview" for f in read_files(OPENAI)}
    monkeypatch.setattr(importers, "PUBLISHED_MODELS", hashes)
    imported = import_gkamradt(ORIGINAL, tmp_path / "run")
    rows = read_back(imported.target)
    assert {r.model for r in rows} == {"gkamradt/claude-2.1", "gkamradt/gpt-4-1106-preview"}
    assert read_report(imported.files) == [
        {"file": "Anthropic_Original_Results/", "files": 7, "layout": "test records",
         "records": 7, "models": ["gkamradt/claude-2.1"]},
        {"file": "OpenAI_Original_Results/OpenAI_OriginalResults.json", "files": 1,
         "layout": "score list", "records": 9, "models": ["gkamradt/gpt-4-1106-preview"],
         "model_from": "published"},
        {"file": "OpenAI_Original_Results/OpenAI_OriginalResults_2.json", "files": 1,
         "layout": "score list", "records": 6, "models": ["gkamradt/gpt-4-1106-preview"],
         "model_from": "published"},
    ]
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["imported_from"]["files"] == read_report(imported.files)
    # --model renames a file that names no model, never one that names its own
    renamed = import_gkamradt(ORIGINAL, tmp_path / "renamed", model="gpt-4-turbo")
    assert {r.model for r in read_back(renamed.target)} == {"gkamradt/claude-2.1",
                                                            "gkamradt/gpt-4-turbo"}
    assert [e.get("model_from") for e in read_report(renamed.files)] == [
        None, "--model", "--model"]


def test_published_hashes_are_those_of_the_two_gpt_4_files() -> None:
    assert set(importers.PUBLISHED_MODELS.values()) == {"gpt-4-1106-preview"}
    assert len(importers.PUBLISHED_MODELS) == 2
    assert all(len(h) == 64 for h in importers.PUBLISHED_MODELS)


def test_both_layouts_report_side_by_side(tmp_path: Path) -> None:
    import_gkamradt(ORIGINAL, tmp_path / "run", model="gpt-4-1106-preview")
    report = build_report([tmp_path / "run"])
    page = (report.out_dir / "report.html").read_text()
    assert "<title>Needle in a haystack: gkamradt/claude-2.1 vs gkamradt/gpt-4-1106-preview" in page
    assert (report.out_dir / "comparison.png").is_file()
    # the judge's mean, not a recall: Claude 2.1 scored 10 six times and 1 once
    assert f"{(6 * 10 + 1) / 7:.1f}/10" in page


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"token_limit": 0, "depth_percent": 5, "score": 1}]', r"s\.json\[0\]: token_limit"),
        ('[{"token_limit": 9, "depth_percent": 5, "score": 1, "x": 1}]', r"\[0\]: x: Extra"),
    ],
)
def test_bad_score_lists_name_the_entry_and_field(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "s.json").write_text(text)
    with pytest.raises(UserError, match=message):
        import_gkamradt(tmp_path / "s.json", tmp_path / "run", model="m")
