"""The committed example (results/examples/nll-quickstart) stays readable and reproducible:
its report is a pure function of its files."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("scipy", reason="the fit needs scipy: pip install 'niah[nll]'")

from niah.nll.report import build_nll_report

EXAMPLE = Path(__file__).resolve().parents[2] / "results" / "examples" / "nll-quickstart"


def test_the_committed_example_reports_what_is_committed(tmp_path: Path) -> None:
    report = build_nll_report([EXAMPLE], out=tmp_path)
    assert [(s.corpus, len(s.documents), s.tokens) for s in report.series] == [
        ("prose", 3, 3 * 8192), ("code", 3, 3 * 8192)]
    for s in report.series:
        assert s.positions[-1] == 8192
        assert s.cumulative[-1] < 0.2 * s.cumulative[0]  # far context is used
        assert s.fit is not None and s.fit.r2 > 0.8
    for name in ("nll_fit.csv", "nll_curve.csv"):
        assert (tmp_path / name).read_text() == (EXAMPLE / "report" / name).read_text()
