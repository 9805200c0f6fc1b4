"""The results format: one reader, one policy, older schemas migrated."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from niah.errors import ResultsError, UserError
from niah.results import (
    MANIFEST_FILE,
    RESULTS_FILE,
    SCHEMA_VERSION,
    Manifest,
    manifest_text,
    parse_row,
    read_manifest,
    read_rows,
)
from tests.report.factory import make_row

EXAMPLE = Path(__file__).resolve().parents[1] / "results" / "examples" / "quickstart"


def test_rows_of_schema_1_are_read_with_todays_names(tmp_path: Path) -> None:
    """The committed quickstart example was written with schema 1 (``depth_percent``)."""
    raw = [json.loads(line) for line in (EXAMPLE / RESULTS_FILE).read_text().splitlines()]
    assert {r["schema_version"] for r in raw} == {1}
    rows = read_rows(EXAMPLE)
    assert len(rows) == len(raw) == 15
    for old, new in zip(raw, rows, strict=True):
        assert new.schema_version == SCHEMA_VERSION
        assert new.requested_depth == old["depth_percent"]
        assert new.actual_depth == old["actual_depth_percent"]
        assert [n.actual_depth for n in new.needles] == [
            n["depth_percent"] for n in old["needles"]
        ]


def test_a_row_round_trips() -> None:
    row = make_row(1000, 50, 1.0)
    assert parse_row(row.model_dump_json()) == row


def test_a_torn_last_line_is_left_out_and_a_middle_one_is_an_error(tmp_path: Path) -> None:
    good = [make_row(1000, d, 1.0).model_dump_json() for d in (0, 50, 100)]
    (tmp_path / RESULTS_FILE).write_text("\n".join(good) + '\n{"trial_id": "x", "mo')
    assert len(read_rows(tmp_path)) == 3
    (tmp_path / RESULTS_FILE).write_text("\n".join([good[0], "[1, 2]", good[1]]) + "\n")
    with pytest.raises(ResultsError) as info:
        read_rows(tmp_path)
    assert str(info.value) == (
        f"{tmp_path / RESULTS_FILE}: line 2 is not a valid result row (not a JSON object); "
        "fix or remove that line"
    )


def test_no_results_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"no results\.jsonl"):
        read_rows(tmp_path)
    with pytest.raises(UserError, match="no such run directory"):
        read_rows(tmp_path / "missing")


def test_manifests_of_runs_and_of_old_imports_read_alike(tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(EXAMPLE, run)
    manifest = read_manifest(run)
    assert manifest is not None and manifest.experiment == "quickstart"
    assert manifest.tokenizer_of("llamacpp/smollm2-135m")
    old_import = tmp_path / "imported"
    old_import.mkdir()
    (old_import / MANIFEST_FILE).write_text(json.dumps({
        "niah_version": "0.1.0",
        "experiment": {"name": "gkamradt-import", "description": "imported"},
        "imported_from": {"format": "gkamradt", "path": "x", "records": 3},
        "created_at": "2026-11-30T00:00:00+00:00",
    }))
    manifest = read_manifest(old_import)
    assert manifest is not None and manifest.experiment == "gkamradt-import"  # a string now
    assert manifest.started_at == "2026-11-30T00:00:00+00:00"
    (old_import / MANIFEST_FILE).write_text(manifest_text(manifest))
    assert read_manifest(old_import) == manifest
    assert read_manifest(tmp_path) is None


def test_a_damaged_manifest_names_its_file(tmp_path: Path) -> None:
    (tmp_path / MANIFEST_FILE).write_text("{not json")
    with pytest.raises(ResultsError, match=r"manifest.json: cannot read \(not valid JSON\)"):
        read_manifest(tmp_path)
    (tmp_path / MANIFEST_FILE).write_text(json.dumps({"experiment": "x", "bogus": 1}))
    with pytest.raises(ResultsError, match=r"manifest\.json: bogus: Extra inputs"):
        read_manifest(tmp_path)


def test_importers_write_the_same_manifest_model(tmp_path: Path) -> None:
    from niah.importers import import_gkamradt

    data = Path(__file__).parent / "data" / "gkamradt" / "v1"
    import_gkamradt(data, tmp_path / "out")
    raw = json.loads((tmp_path / "out" / MANIFEST_FILE).read_text())
    assert raw["experiment"] == "gkamradt-import"  # a string, as the store writes it
    assert Manifest.model_validate(raw).imported_from is not None


def test_rows_before_media_read_as_token_lengths_and_media_rows_round_trip() -> None:
    from niah.results import NeedleResult, parse_row

    old = {"schema_version": 2, "trial_id": "t", "experiment": "e", "model": "scripted/x",
           "context_length": 1000, "context_tokens": 1000, "prompt_tokens": 1040,
           "requested_depth": 50.0, "actual_depth": 50.0, "seed": 1, "prompt_sha256": "s",
           "niah_version": "0.1", "timestamp": "t",
           "needles": [{"text": "n", "answer": "1", "token_offset": 3, "actual_depth": 50.0}]}
    row = parse_row(json.dumps(old))
    assert row.length_unit == "tokens" and row.needles[0].time_s is None
    media = row.model_copy(update={"length_unit": "seconds", "needles": [NeedleResult(
        text="n", answer="1", token_offset=0, actual_depth=50.0, time_s=60.0, index=60)]})
    again = parse_row(media.model_dump_json())
    assert again.length_unit == "seconds" and again.needles[0].index == 60
