"""The HTML report's tables: summary, per-length and per-depth scores, failed trials.

Every string from results or manifests is escaped with ``esc``. Tables are wrapped in a
``div.wide`` that scrolls sideways inside the page, so a 35-length table never makes
the page wider than the window. Models are named as figures name them (scripted fakes
say so), judge-scored imports show judge scores (``7.3/10``), and counts niah did not
measure say so: imported token counts are "estimated", missing completion counts are
"unknown", never 0.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from niah.analysis import select
from niah.fmt import money, tokens
from niah.lengths import LengthBasis
from niah.report.scale import RECALL, ScoreScale, display_name_of, judge_score, scale_of
from niah.report.ticks import depth_labels
from niah.results import ANSWER_ERRORS

MAX_RESPONSE_CHARS = 2000
MAX_CELL_ROWS = 500


def esc(value: object) -> str:
    """Escape anything for HTML text or a quoted attribute."""
    return html.escape(str(value), quote=True)


def wide(table: str) -> str:
    """A table that scrolls sideways inside the page when it is wider than the page."""
    return f'<div class="wide">{table}</div>'


def _missing(x: Any) -> bool:
    return x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x))


def pct(x: Any) -> str:
    return "–" if _missing(x) else f"{float(x):.1%}"


def num(x: Any, fmt: str = "{:,}") -> str:
    return "–" if _missing(x) else fmt.format(x)


def savings(x: Any) -> str:
    """What prompt caching saved: "–" when no row recorded it, "-$..." when it cost."""
    if _missing(x):
        return "–"
    return "-" + money(-x) if x < 0 else money(x)


@dataclass(frozen=True)
class Facts:
    """What a model's rows say about how to show it."""

    name: str
    scale: ScoreScale
    estimated: bool
    """Lengths and prompt token counts came with an import; niah did not count them."""
    completion_known: int
    """Rows that report completion tokens."""
    completion_tokens: int
    trials: int


def facts_of(df: pd.DataFrame, label: str, rec: Mapping[str, Any]) -> Facts:
    _, sub = select(df, label)
    completion = sub["usage_completion_tokens"].dropna()
    return Facts(
        name=display_name_of(df, label), scale=scale_of(sub),
        estimated=LengthBasis(rec["lengths"], rec["tokenizer"]).kind == "estimated",
        completion_known=len(completion), completion_tokens=int(completion.sum()),
        trials=len(sub),
    )


def _length(n: Any, facts: Facts) -> str:
    if _missing(n):
        return "–"
    return tokens(int(n)) + (" (estimated)" if facts.estimated else "")


def _completion(facts: Facts) -> str:
    if facts.completion_known == 0:
        return '<span class="note">unknown</span>'
    if facts.completion_known < facts.trials:
        return (f"≥ {facts.completion_tokens:,} <span class=\"note\">("
                f"{facts.trials - facts.completion_known:,} of {facts.trials:,} rows "
                "unknown)</span>")
    return f"{facts.completion_tokens:,}"


def _lengths_cell(rec: Mapping[str, Any]) -> str:
    basis = LengthBasis(rec["lengths"], rec["tokenizer"])
    if basis.kind == "estimated":
        return "estimated (imported)"
    if basis.kind == "unknown":
        return "not recorded"
    return basis.unit + (" (approximate)" if basis.kind == "approximate" else "")


def _token_check_cell(rec: Mapping[str, Any]) -> str:
    """Whether the server's prompt token counts agree with niah's (``niah.checks``)."""
    compared = int(rec["token_counts_compared"])
    if rec["token_mismatch_rows"]:
        return (f'<span class="err">differs in {int(rec["token_mismatch_rows"]):,} of '
                f'{compared:,} rows (median ratio {rec["token_mismatch_ratio"]:.3f})</span>')
    if compared:
        return f"agrees ({compared:,} rows)"
    return '<span class="note">not reported</span>'


def model_notes(rec: Mapping[str, Any], name: str) -> str:
    """A token-count mismatch (warning) and lengths not in the model's own tokens (note)."""
    lines = []
    if rec["token_mismatch"]:
        lines.append(f"<p class=\"warn\">{esc(rec['token_mismatch'])}</p>")
    note = LengthBasis(rec["lengths"], rec["tokenizer"]).note(name)
    if note:
        lines.append(f'<p class="note">{esc(note)}.</p>')
    return "".join(lines)


def summary_table(summary: pd.DataFrame, facts: Mapping[str, Facts], threshold: float) -> str:
    judged = any(f.scale.judge for f in facts.values())
    head = (
        f"<tr><th>Model</th><th>{'Recall or judge score' if judged else 'Recall'}</th>"
        "<th>Effective context</th><th>Longest tested</th>"
        "<th>Trials</th><th>API errors</th><th>Unanswered</th><th>Lengths counted in</th>"
        "<th>Token counts (server vs niah)</th><th>Prompt tokens</th>"
        "<th>Retrieval recall (RAG)</th>"
        "<th>Completion tokens</th><th>Cost</th><th>Saved by prompt caching</th></tr>"
    )
    body, notes = [], []
    for rec in summary.to_dict("records"):
        f = facts[rec["model"]]
        prompt = num(rec["prompt_tokens"])
        if f.estimated:
            prompt = f'≈ {prompt} <span class="note">(estimated)</span>'
        body.append(
            "<tr>"
            f"<td>{esc(f.name)}</td>"
            f'<td class="num">{esc(f.scale.table(rec["recall"]))}</td>'
            f'<td class="num">{esc(_length(rec["effective_context_length"], f))}</td>'
            f'<td class="num">{esc(_length(rec["max_context_length"], f))}</td>'
            f'<td class="num">{num(rec["trials"])}</td>'
            f'<td class="num">{num(rec["errors"])} ({pct(rec["error_rate"])})</td>'
            f'<td class="num">{num(rec["unanswered"])} ({pct(rec["unanswered_rate"])})</td>'
            f"<td>{esc(_lengths_cell(rec))}</td>"
            f"<td>{_token_check_cell(rec)}</td>"
            f'<td class="num">{prompt}</td>'
            f'<td class="num">{pct(rec.get("retrieval_recall"))}</td>'
            f'<td class="num">{_completion(f)}</td>'
            f'<td class="num">{esc(money(None if _missing(rec["cost_usd"]) else rec["cost_usd"]))}'
            f'</td><td class="num">{esc(savings(rec.get("cache_savings_usd")))}</td></tr>'
        )
        notes.append(model_notes(rec, f.name))
    note = (
        f'<p class="note">Recall is the mean score of scored trials; API errors (no reply) '
        f"and unanswered trials (a reply cut by the token limit before the answer, or "
        f"empty) are counted apart, never as misses. Effective context: the longest length "
        f"up to which every length keeps recall ≥ {threshold:.0%} of the recall at the "
        f"shortest length.</p>"
    )
    if judged:
        note += (
            '<p class="note">Judge scores: results imported from gkamradt\'s harness, or '
            "run with scoring.kind judge and rubric gkamradt, were scored by an LLM judge "
            "from 1 (a miss) to 10 (the needle repeated exactly); "
            "they are shown as such (mean judge score out of 10) and stored as "
            "(judge − 1) / 9, so 1 → 0 and 10 → 1; the effective context of such a model "
            "is computed on that 0–1 score.</p>"
        )
    table = f"<table>{head}{''.join(body)}</table>"
    return f"{wide(table)}{''.join(notes)}{note}"


def score_row_table(name: str, scores: Mapping[Any, float], labels: Sequence[str],
                    scale: ScoreScale = RECALL) -> str:
    """One row of scores by length or depth (judge scores out of 10 for judged models)."""
    cells = "".join(f"<th>{esc(x)}</th>" for x in labels)
    row_name = "Mean judge score" if scale.judge else "Recall"
    values = "".join(f'<td class="num">{esc(scale.table(v))}</td>' for v in scores.values())
    return wide(f"<table><tr><th>{esc(name)}</th>{cells}</tr>"
                f"<tr><th>{row_name}</th>{values}</tr></table>")


def by_length_table(rec: Mapping[str, Any], f: Facts) -> str:
    by_length = rec["recall_by_length"]
    name = "Length (estimated)" if f.estimated else "Length"
    # exact lengths (``niah.fmt.tokens``): a table has room; figures round (``ticks``)
    return score_row_table(name, by_length, [tokens(int(n)) for n in by_length], f.scale)


def by_depth_table(rec: Mapping[str, Any], f: Facts) -> str:
    by_depth = rec["recall_by_depth"]
    return score_row_table("Depth", by_depth, depth_labels(list(by_depth)), f.scale)


def _response(rec: Mapping[str, Any]) -> str:
    text = rec["response"]
    if _missing(text):
        if isinstance(rec["error_kind"], str):
            return '<span class="note">(no response)</span>'
        return '<span class="note">(not in the imported record)</span>'
    text = str(text)
    if not text:
        return '<span class="note">(empty reply)</span>'
    extra = ""
    if len(text) > MAX_RESPONSE_CHARS:
        extra = f'<span class="note"> … ({len(text) - MAX_RESPONSE_CHARS:,} more characters)</span>'
        text = text[:MAX_RESPONSE_CHARS]
    return esc(text) + extra


def _outcome(rec: Mapping[str, Any], scale: ScoreScale) -> str:
    kind = rec["error_kind"]
    if not isinstance(kind, str):
        judge = judge_score(rec["extra"]) if scale.judge else None
        if judge is not None:
            return f"judge {judge:g}/10"
        return num(rec["score"], "{:.2f}")
    what = "no answer" if kind in ANSWER_ERRORS else "API error"
    return f'<span class="err">{what} ({esc(kind)}): {esc(rec["error_message"])}</span>'


def cells_table(sub: pd.DataFrame, f: Facts) -> str:
    """Every trial that missed, errored or got no answer (up to ``MAX_CELL_ROWS``)."""
    failed = sub[sub["error"].notna() | (sub["score"].fillna(0.0) < 1.0)]
    if failed.empty:
        return '<p class="note">Every trial found every needle.</p>'
    failed = failed.sort_values(["context_length", "requested_depth", "repeat"])
    shown = failed.head(MAX_CELL_ROWS)
    rows = []
    for rec in shown.to_dict("records"):
        rows.append(
            "<tr>"
            f'<td class="num">{esc(tokens(int(rec["context_length"])))}</td>'
            f'<td class="num">{round(float(rec["requested_depth"]), 3):g}%</td>'
            f'<td class="num">{int(rec["repeat"])}</td>'
            f"<td>{_outcome(rec, f.scale)}</td>"
            f'<td class="resp">{_response(rec)}</td>'
            "</tr>"
        )
    more = ""
    if len(failed) > len(shown):
        more = f'<p class="note">{len(failed) - len(shown):,} more not shown.</p>'
    length = "Length (estimated)" if f.estimated else "Length"
    score = "Judge score / error (kind)" if f.scale.judge else "Score / error (kind)"
    head = (f"<tr><th>{length}</th><th>Depth</th><th>Repeat</th><th>{score}</th>"
            "<th>Response</th></tr>")
    table = f"<table>{head}{''.join(rows)}</table>"
    return wide(table) + more
