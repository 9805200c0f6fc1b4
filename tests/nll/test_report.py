"""The NLL report: curves from stored arrays, fits, figures and CSVs."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("scipy", reason="the fit needs scipy: pip install 'niah[nll]'")

from niah.errors import UserError
from niah.nll.config import load_nll_config
from niah.nll.curve import cumulative, position_sums
from niah.nll.report import build_nll_report
from niah.nll.runner import run_nll
from tests.nll.conftest import nll_config, text_of


def test_position_sums_fold_windows_onto_positions() -> None:
    nll = np.array([np.nan, 1, 2, 3, np.nan, 5, 6, np.nan, np.nan])  # windows 4, 4, 1
    sums, counts = position_sums(nll, 4)
    np.testing.assert_array_equal(sums, [0, 6, 8, 3])
    np.testing.assert_array_equal(counts, [0, 2, 2, 1])


def test_the_cumulative_curve_averages_the_documents_curves() -> None:
    a = np.array([np.nan, 4.0, 2.0, 2.0])
    b = np.array([np.nan, 6.0, 4.0, 0.0])
    sa, ca = position_sums(a, 4)
    sb, cb = position_sums(b, 4)
    positions, mean, cum = cumulative(sa + sb, ca + cb)
    np.testing.assert_array_equal(positions, [2, 3, 4])
    np.testing.assert_array_equal(mean, [5.0, 3.0, 1.0])
    per_doc = [np.cumsum(x[1:]) / np.arange(1, 4) for x in (a, b)]
    np.testing.assert_allclose(cum, (per_doc[0] + per_doc[1]) / 2)


def _two_corpora(tmp_path: Path) -> Path:
    for name, seed in (("prose", 0), ("code", 5)):
        folder = tmp_path / name
        folder.mkdir()
        for i in range(4):
            (folder / f"{i}.txt").write_text(text_of(600, seed + i))
    return tmp_path


@pytest.fixture
def two_runs(tmp_path: Path) -> tuple[Path, Path]:
    root = _two_corpora(tmp_path)
    corpora = [{"name": n, "kind": "files", "path": str(root / n)} for n in ("prose", "code")]
    one = load_nll_config(nll_config(root, corpora=corpora, window=512, max_document_tokens=512,
                                     model={"id": "scripted/a", "options": {"noise": 0.3}}))
    two = load_nll_config(nll_config(root, corpora=corpora[:1], window=512,
                                     max_document_tokens=512,
                                     model={"id": "scripted/b", "options": {"beta": 0.3}}))
    return (run_nll(one, tmp_path / "run-a", cache=False).run_dir,
            run_nll(two, tmp_path / "run-b", cache=False).run_dir)


def test_a_report_fits_each_model_and_corpus_and_compares_them(two_runs: tuple[Path, Path],
                                                               tmp_path: Path) -> None:
    report = build_nll_report(list(two_runs), out=tmp_path / "report", formats=("png", "svg"))
    labels = [(s.label, s.corpus) for s in report.series]
    assert labels == [("a", "prose"), ("a", "code"), ("b", "prose")]
    names = sorted(p.name for p in report.files)
    assert names == ["nll.png", "nll.svg", "nll_compare.png", "nll_compare.svg",
                     "nll_curve.csv", "nll_fit.csv"]
    assert all(p.stat().st_size > 10_000 for p in report.files if p.suffix != ".csv")
    fits = list(csv.DictReader(io.StringIO((tmp_path / "report" / "nll_fit.csv").read_text())))
    assert [f["model"] for f in fits] == ["scripted/a", "scripted/a", "scripted/b"]
    truths = [(6.0, 0.5, 1.5), (6.0, 0.5, 1.5), (6.0, 0.3, 1.5)]  # scripted/b: beta 0.3
    for row, truth in zip(fits, truths, strict=True):
        assert float(row["r2"]) > 0.99
        for name, value in zip(("alpha", "beta", "gamma"), truth, strict=True):
            assert float(row[name]) == pytest.approx(value, rel=0.05), name
            assert float(row[f"{name}_lo"]) <= float(row[name]) <= float(row[f"{name}_hi"])
        assert row["interval_method"] == "bootstrap over documents (20)"
        assert row["departure"] == ""  # the data follows its law to the end
    curve = list(csv.DictReader(io.StringIO((tmp_path / "report" / "nll_curve.csv").read_text())))
    first = [r for r in curve if r["model"] == "scripted/a" and r["corpus"] == "prose"]
    assert first[0]["position"] == "2" and first[-1]["position"] == "512"
    assert float(first[-1]["cumulative_nll"]) < float(first[0]["cumulative_nll"])


def test_a_single_document_uses_the_fit_covariance(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text(text_of(600))
    run = run_nll(load_nll_config(nll_config(folder, window=256)), tmp_path / "run",
                  cache=False)
    report = build_nll_report([run.run_dir])
    assert report.out_dir == run.run_dir / "report"
    fit = report.series[0].fit
    assert fit is not None and fit.interval_method == "covariance"


def test_a_run_without_scored_documents_has_nothing_to_draw(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text(text_of(100))
    data = nll_config(folder)
    data["model"]["options"]["fail_on_token"] = 0
    config = load_nll_config(data)
    from niah.nll.runner import plan_nll

    token = plan_nll(config).models[0].documents[0].ids[5]
    data["model"]["options"]["fail_on_token"] = int(token)
    run = run_nll(load_nll_config(data), tmp_path / "run", cache=False)
    assert run.failures
    with pytest.raises(UserError, match="no scored documents yet"):
        build_nll_report([run.run_dir])
