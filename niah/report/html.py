"""One self-contained HTML report: opens from disk, loads nothing, runs nothing.

Model output is hostile data: every string that comes from results or manifests is
HTML-escaped, and a Content-Security-Policy allowing no scripts and only ``data:``
images backs that up. Figures are embedded as base64 PNG; styles are inline.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from niah._version import __version__
from niah.analysis import select
from niah.fmt import money, tokens
from niah.lengths import LengthBasis
from niah.redact import redact_keys
from niah.report.cells import ERROR_COLOR, UNANSWERED_COLOR, UNANSWERED_HATCH
from niah.report.heatmap import depth_labels, length_labels
from niah.results import ANSWER_ERRORS

CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'"
)
MAX_RESPONSE_CHARS = 2000
MAX_CELL_ROWS = 500

STYLE = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0 auto;
max-width:1200px;padding:24px;color:#1d1d1f;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #ddd;
padding-bottom:.2em}h3{margin-top:1.5em}.meta{color:#666;font-size:.9em}
table{border-collapse:collapse;margin:.6em 0;font-size:.88em}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f7}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.resp{white-space:pre-wrap;word-break:break-word;max-width:560px;unicode-bidi:isolate;
font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.92em}
img.figure{max-width:100%;height:auto;display:block;margin:.8em 0}
pre{background:#f5f5f7;padding:12px;overflow-x:auto;font-size:.85em;white-space:pre-wrap;
word-break:break-word}.err{color:#8a1c1c}.note{color:#666;font-size:.85em}
.warn{background:#fff4e5;border-left:4px solid #e8a33d;padding:6px 10px;font-size:.9em}
.swatch{display:inline-block;width:.9em;height:.9em;vertical-align:-.1em;margin:0 .2em}
"""


def esc(value: object) -> str:
    """Escape anything for HTML text or a quoted attribute."""
    return html.escape(str(value), quote=True)


@dataclass
class ReportImages:
    """PNG bytes of the figures embedded in the page."""

    heatmaps: dict[str, bytes] = field(default_factory=dict)
    """Per model (series label)."""
    comparison: bytes | None = None
    multi_needle: bytes | None = None


def _img(data: bytes, alt: str) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img class="figure" alt="{esc(alt)}" src="data:image/png;base64,{encoded}">'


def _pct(x: Any) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{float(x):.1%}"


def _cost(x: Any) -> float | None:
    return None if x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x)) else x


def _savings(x: Any) -> str:
    """What prompt caching saved: "–" when no row recorded it, "-$..." when it cost."""
    usd = _cost(x)
    if usd is None:
        return "–"
    return "-" + money(-usd) if usd < 0 else money(usd)


def _num(x: Any, fmt: str = "{:,}") -> str:
    if x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return fmt.format(x)


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


def _warnings(summary: pd.DataFrame) -> str:
    """Token-count mismatches and approximate lengths, one sentence per model."""
    lines = []
    for rec in summary.to_dict("records"):
        if rec["token_mismatch"]:
            lines.append(f"<p class=\"warn\">{esc(rec['token_mismatch'])}</p>")
        note = LengthBasis(rec["lengths"], rec["tokenizer"]).note(str(rec["model"]))
        if note:
            lines.append(f'<p class="note">{esc(note)}.</p>')
    return "".join(lines)


def _summary_table(summary: pd.DataFrame, threshold: float) -> str:
    head = (
        "<tr><th>Model</th><th>Recall</th><th>Effective context</th><th>Longest tested</th>"
        "<th>Trials</th><th>API errors</th><th>Unanswered</th><th>Lengths counted in</th>"
        "<th>Token counts (server vs niah)</th><th>Prompt tokens</th>"
        "<th>Completion tokens</th><th>Cost</th><th>Saved by prompt caching</th></tr>"
    )
    body = []
    for rec in summary.to_dict("records"):
        eff = rec["effective_context_length"]
        eff_text = "–" if eff is None or eff is pd.NA else tokens(int(eff))
        body.append(
            "<tr>"
            f"<td>{esc(rec['model'])}</td>"
            f'<td class="num">{_pct(rec["recall"])}</td>'
            f'<td class="num">{esc(eff_text)}</td>'
            f'<td class="num">{esc(tokens(int(rec["max_context_length"])))}</td>'
            f'<td class="num">{_num(rec["trials"])}</td>'
            f'<td class="num">{_num(rec["errors"])} ({_pct(rec["error_rate"])})</td>'
            f'<td class="num">{_num(rec["unanswered"])} ({_pct(rec["unanswered_rate"])})</td>'
            f"<td>{esc(_lengths_cell(rec))}</td>"
            f"<td>{_token_check_cell(rec)}</td>"
            f'<td class="num">{_num(rec["prompt_tokens"])}</td>'
            f'<td class="num">{_num(rec["completion_tokens"])}</td>'
            f'<td class="num">{esc(money(_cost(rec["cost_usd"])))}</td>'
            f'<td class="num">{esc(_savings(rec.get("cache_savings_usd")))}</td>'
            "</tr>"
        )
    note = (
        f'<p class="note">Recall is the mean score of scored trials; API errors (no reply) '
        f"and unanswered trials (a reply cut by the token limit before the answer, or "
        f"empty) are counted apart, never as misses. Effective context: the longest length "
        f"up to which every length keeps recall ≥ {threshold:.0%} of the recall at the "
        f"shortest length.</p>"
    )
    return f"<table>{head}{''.join(body)}</table>{_warnings(summary)}{note}"


def _recall_row_table(name: str, recall: Mapping[Any, float], labels: Sequence[str]) -> str:
    cells = "".join(f"<th>{esc(x)}</th>" for x in labels)
    values = "".join(f'<td class="num">{_pct(v)}</td>' for v in recall.values())
    return f"<table><tr><th>{esc(name)}</th>{cells}</tr><tr><th>Recall</th>{values}</tr></table>"


def _response(text: Any) -> str:
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return '<span class="note">(no response)</span>'
    text = str(text)
    if not text:
        return '<span class="note">(empty reply)</span>'
    extra = ""
    if len(text) > MAX_RESPONSE_CHARS:
        extra = f'<span class="note"> … ({len(text) - MAX_RESPONSE_CHARS:,} more characters)</span>'
        text = text[:MAX_RESPONSE_CHARS]
    return esc(text) + extra


def _outcome(rec: Mapping[str, Any]) -> str:
    kind = rec["error_kind"]
    if not isinstance(kind, str):
        return _num(rec["score"], "{:.2f}")
    what = "no answer" if kind in ANSWER_ERRORS else "API error"
    return f'<span class="err">{what} ({esc(kind)}): {esc(rec["error_message"])}</span>'


def _cells_table(sub: pd.DataFrame) -> str:
    failed = sub[sub["error"].notna() | (sub["score"].fillna(0.0) < 1.0)]
    if failed.empty:
        return '<p class="note">Every trial found every needle.</p>'
    failed = failed.sort_values(["context_length", "requested_depth", "repeat"])
    shown = failed.head(MAX_CELL_ROWS)
    rows = []
    for rec in shown.to_dict("records"):
        outcome = _outcome(rec)
        rows.append(
            "<tr>"
            f'<td class="num">{esc(tokens(int(rec["context_length"])))}</td>'
            f'<td class="num">{round(float(rec["requested_depth"]), 3):g}%</td>'
            f'<td class="num">{int(rec["repeat"])}</td>'
            f"<td>{outcome}</td>"
            f'<td class="resp">{_response(rec["response"])}</td>'
            "</tr>"
        )
    more = ""
    if len(failed) > len(shown):
        more = f'<p class="note">{len(failed) - len(shown):,} more not shown.</p>'
    head = (
        "<tr><th>Length</th><th>Depth</th><th>Repeat</th><th>Score / error (kind)</th>"
        "<th>Response</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>{more}"


def _model_section(k: int, label: str, df: pd.DataFrame, rec: Mapping[str, Any],
                   images: ReportImages) -> str:
    _, sub = select(df, label)
    parts = [f'<section id="model-{k}"><h2>{esc(label)}</h2>']
    if rec["token_mismatch"]:
        parts.append(f'<p class="warn">{esc(rec["token_mismatch"])}</p>')
    note = LengthBasis(rec["lengths"], rec["tokenizer"]).note(label)
    if note:
        parts.append(f'<p class="note">{esc(note)}.</p>')
    if label in images.heatmaps:
        parts.append(_img(images.heatmaps[label], f"Recall heatmap of {label}"))
    by_length = rec["recall_by_length"]
    by_depth = rec["recall_by_depth"]
    parts.append("<h3>Recall by context length</h3>")
    parts.append(_recall_row_table("Length", by_length, length_labels(list(by_length))))
    parts.append("<h3>Recall by depth</h3>")
    parts.append(_recall_row_table("Depth", by_depth, depth_labels(list(by_depth))))
    parts.append("<h3>Missed, unanswered and errored trials</h3>")
    parts.append(_cells_table(sub))
    parts.append("</section>")
    return "".join(parts)


def _config_section(manifests: Sequence[tuple[str, dict[str, Any] | None]]) -> str:
    parts = ["<h2>Configuration</h2>"]
    for run_dir, manifest in manifests:
        parts.append(f"<h3>{esc(run_dir)}</h3>")
        if manifest is None:
            parts.append('<p class="note">No manifest.json in this run directory.</p>')
            continue
        text = json.dumps(redact_keys(manifest), indent=2, sort_keys=False, default=str)
        parts.append(f"<pre>{esc(text)}</pre>")
    return "".join(parts)


def _legend_note() -> str:
    hatch = (f"background:repeating-linear-gradient(135deg,{UNANSWERED_COLOR} 0 3px,"
             f"{UNANSWERED_HATCH} 3px 4px)")
    return (
        '<p class="note">Heatmaps: red (0) → yellow → green (1) is the fraction of needles '
        f'found; <span class="swatch" style="background:{ERROR_COLOR}"></span>gray: no trial '
        "of the cell was scored and some failed with an API error; a dark top-right corner: "
        f'some trials did; <span class="swatch" style="{hatch}"></span>hatched light gray: '
        "every trial got a reply without an answer (truncated by the token limit, or "
        "empty); a light top-left corner: some trials did; white: not run.</p>"
    )


def render_html(
    df: pd.DataFrame,
    summary: pd.DataFrame,
    images: ReportImages,
    manifests: Sequence[tuple[str, dict[str, Any] | None]],
    *,
    title: str = "Needle-in-a-haystack report",
    threshold: float = 0.85,
) -> str:
    """The whole report page as one string."""
    records = {rec["model"]: rec for rec in summary.to_dict("records")}
    runs = ", ".join(esc(run) for run, _ in manifests)
    body = [
        f"<h1>{esc(title)}</h1>",
        f'<p class="meta">niah {esc(__version__)} · runs: {runs} · '
        f"{len(df):,} trials, {len(records)} model(s)</p>",
        "<h2>Summary</h2>",
        _summary_table(summary, threshold),
        _legend_note(),
    ]
    if images.comparison is not None:
        body += ["<h2>Comparison</h2>", _img(images.comparison, "Models compared")]
    if images.multi_needle is not None:
        body += ["<h2>Multi-needle recall</h2>",
                 _img(images.multi_needle, "Recall against context length")]
    for k, label in enumerate(records):
        body.append(_model_section(k, label, df, records[label], images))
    body.append(_config_section(manifests))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
