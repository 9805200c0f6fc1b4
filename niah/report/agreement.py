"""How often an LLM judge agrees with the deterministic scorer (``scoring.kind: judge``).

Each judged trial gets two labels: the judge's (its 0..1 score, ``judge.score``) and
the baseline's (``judge.deterministic_score``), each a pass when it is at least
``PASS`` (a gkamradt verdict of 7 or more passes, 5 or less fails; one needle found
passes). The table counts the four outcomes per model, the observed agreement and
Cohen's kappa, the agreement beyond what two raters with the same pass rates would
reach by chance: ``(p_o - p_e) / (1 - p_e)``, with ``p_e`` from the two raters'
marginal pass rates. When both raters give every trial the same label, ``p_e`` is 1
and kappa is undefined (left empty). Trials where the judge gave no verdict are
counted apart, as is the judge's cost.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from niah.fmt import money
from niah.report.scale import display_name_of
from niah.report.tables import MAX_RESPONSE_CHARS, esc, pct, wide

PASS = 0.5
"""A 0..1 score at or above this is a pass, for the judge and the baseline alike."""
MAX_LISTED = 200
AGREEMENT_COLUMNS = (
    "model", "judge_model", "rubric", "judged", "both_pass", "judge_pass_only",
    "baseline_pass_only", "both_fail", "agreement", "kappa", "judge_errors",
    "judge_cost_usd",
)


def cohen_kappa(both_pass: int, judge_only: int, baseline_only: int, both_fail: int) -> float:
    """Cohen's kappa of a 2x2 table of counts; NaN when chance agreement is 1."""
    n = both_pass + judge_only + baseline_only + both_fail
    if n == 0:
        return math.nan
    observed = (both_pass + both_fail) / n
    judge_pass = (both_pass + judge_only) / n
    baseline_pass = (both_pass + baseline_only) / n
    chance = judge_pass * baseline_pass + (1 - judge_pass) * (1 - baseline_pass)
    return math.nan if chance >= 1 else (observed - chance) / (1 - chance)


def _verdict(judge: Any) -> tuple[bool, bool] | None:
    """(judge passes, baseline passes) of a judged trial, or None without both scores."""
    if not isinstance(judge, Mapping):
        return None
    score, baseline = judge.get("score"), judge.get("deterministic_score")
    if score is None or baseline is None:
        return None
    return score >= PASS, baseline >= PASS


def _judged(df: pd.DataFrame) -> pd.DataFrame:
    if "judge" not in df.columns:
        return df.iloc[0:0]
    return df[[isinstance(j, Mapping) for j in df["judge"]]]


def agreement_frame(df: pd.DataFrame) -> pd.DataFrame:
    """One row per judged model (series): the 2x2 counts, agreement, kappa, judge errors
    and the judge's cost (None when any judged trial's cost is unknown)."""
    rows = []
    judged = _judged(df)
    for label, sub in judged.groupby("series", sort=False):
        labels = [v for v in (_verdict(j) for j in sub["judge"]) if v is not None]
        counts = [sum(1 for v in labels if v == want)
                  for want in ((True, True), (True, False), (False, True), (False, False))]
        costs = [j.get("cost_usd") for j in sub["judge"] if j.get("reply") is not None]
        first = sub["judge"].iloc[0]
        rows.append({
            "model": str(label), "judge_model": first["model"], "rubric": first["rubric"],
            "judged": len(labels), "both_pass": counts[0], "judge_pass_only": counts[1],
            "baseline_pass_only": counts[2], "both_fail": counts[3],
            "agreement": (counts[0] + counts[3]) / len(labels) if labels else math.nan,
            "kappa": cohen_kappa(*counts),
            "judge_errors": sum(1 for j in sub["judge"] if j.get("error") is not None),
            "judge_cost_usd": (None if any(c is None for c in costs) else float(sum(costs))),
        })
    return pd.DataFrame(rows, columns=list(AGREEMENT_COLUMNS))


def disagreements(df: pd.DataFrame) -> pd.DataFrame:
    """The judged trials where judge and baseline disagree on pass or fail."""
    judged = _judged(df)
    keep = [(v is not None and v[0] != v[1]) for v in (_verdict(j) for j in judged["judge"])]
    return judged[keep]


def _usd(x: Any) -> float | None:
    return None if x is None or pd.isna(x) else float(x)


def _kappa(x: float) -> str:
    return "undefined" if math.isnan(x) else f"{x:.3f}"


def judge_section(df: pd.DataFrame) -> str:
    """The report's "LLM judge" section; empty when no trial was judged."""
    table = agreement_frame(df)
    if table.empty:
        return ""
    head = ("<tr><th>Model</th><th>Judge</th><th>Rubric</th><th>Judged</th>"
            "<th>Both pass</th><th>Judge only</th><th>Baseline only</th><th>Both fail</th>"
            "<th>Agreement</th><th>Cohen's κ</th><th>Judge errors</th><th>Judge cost</th></tr>")
    body = "".join(
        f"<tr><td>{esc(display_name_of(df, r['model']))}</td><td>{esc(r['judge_model'])}</td>"
        f"<td>{esc(r['rubric'])}</td><td class=\"num\">{r['judged']}</td>"
        f"<td class=\"num\">{r['both_pass']}</td><td class=\"num\">{r['judge_pass_only']}</td>"
        f"<td class=\"num\">{r['baseline_pass_only']}</td><td class=\"num\">{r['both_fail']}"
        f"</td><td class=\"num\">{pct(r['agreement'])}</td>"
        f"<td class=\"num\">{_kappa(r['kappa'])}</td><td class=\"num\">{r['judge_errors']}</td>"
        f"<td class=\"num\">{esc(money(_usd(r['judge_cost_usd'])))}</td></tr>"
        for r in table.to_dict("records"))
    note = (
        '<p class="note">The scores of these models are an LLM judge\'s (judge scores, '
        "not fractions of needles found by string matching); the deterministic baseline "
        f"is kept beside each verdict. A score of {PASS:g} or more (gkamradt: 7 or more "
        "out of 10) is a pass. κ is Cohen's kappa: 1 is full agreement, 0 what chance "
        "gives; undefined when both give every trial the same label. The judge's cost is "
        "counted apart from the models'.</p>")
    return ("<section id=\"judge\"><h2>LLM judge and deterministic scoring</h2>"
            f"{wide(f'<table>{head}{body}</table>')}{note}{_disagreement_table(df)}"
            "</section>")


def _disagreement_table(df: pd.DataFrame) -> str:
    rows = disagreements(df)
    if rows.empty:
        return '<p class="note">Judge and baseline agree on every judged trial.</p>'
    shown = rows.sort_values(["series", "context_length", "requested_depth", "repeat"])
    lines = []
    for rec in shown.head(MAX_LISTED).to_dict("records"):
        judge = rec["judge"]
        verdict = judge["verdict"]
        response = str(rec["response"] or "")[:MAX_RESPONSE_CHARS]
        answers = ", ".join(n["answer"] for n in rec["needles"] if not n["distractor"])
        lines.append(
            f"<tr><td>{esc(display_name_of(df, rec['series']))}</td>"
            f"<td>{esc(rec['trial_id'])}</td><td class=\"num\">{verdict:g}</td>"
            f"<td class=\"num\">{judge['deterministic_score']:.2f}</td>"
            f"<td>{esc(answers)}</td><td class=\"resp\">{esc(response)}</td>"
            f"<td>{esc(judge.get('reason') or '')}</td></tr>")
    more = (f'<p class="note">{len(rows) - MAX_LISTED:,} more not shown.</p>'
            if len(rows) > MAX_LISTED else "")
    head = ("<tr><th>Model</th><th>Trial</th><th>Judge verdict</th><th>Baseline score</th>"
            "<th>Expected</th><th>Response</th><th>Judge's reason</th></tr>")
    return ("<h3>Trials where they disagree</h3>"
            f"{wide(f'<table>{head}{chr(10).join(lines)}</table>')}{more}")
