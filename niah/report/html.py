"""One self-contained HTML report: opens from disk, loads nothing, runs nothing.

Model output is hostile data: every string that comes from results or manifests is
HTML-escaped (``niah.report.tables.esc``), and a Content-Security-Policy allowing no
scripts and only ``data:`` images backs that up. Figures are embedded as base64 PNG
and shown at ``ZOOM`` CSS px per point, at most the page's 1200 px: figures are at most
16 in (1152 pt) wide, so 10 pt tick labels are at least 10 px on the page whenever the
window leaves the page its width. Styles are inline. Tables scroll sideways inside the
page instead of widening it.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from niah._version import __version__
from niah.analysis import select
from niah.redact import redact_keys
from niah.report.cells import ERROR_COLOR, UNANSWERED_COLOR, UNANSWERED_HATCH
from niah.report.tables import (
    MAX_RESPONSE_CHARS,
    Facts,
    by_depth_table,
    by_length_table,
    cells_table,
    esc,
    facts_of,
    model_notes,
    summary_table,
)

__all__ = ["MAX_RESPONSE_CHARS", "ReportImages", "esc", "render_html"]

ZOOM = 1.4
"""CSS px per figure point: a small figure's 10 pt labels are 14 px on the page. A wide
one (16 in, 1613 px) is shrunk to the page's 1200 px: its labels stay above 10 px."""

CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'"
)
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
div.wide{max-width:100%;overflow-x:auto}div.wide table{margin:.3em 0}
pre{background:#f5f5f7;padding:12px;overflow-x:auto;font-size:.85em;white-space:pre-wrap;
word-break:break-word}.err{color:#8a1c1c}.note{color:#666;font-size:.85em}
.warn{background:#fff4e5;border-left:4px solid #e8a33d;padding:6px 10px;font-size:.9em}
.swatch{display:inline-block;width:.9em;height:.9em;vertical-align:-.1em;margin:0 .2em}
"""


@dataclass
class ReportImages:
    """PNG bytes of the figures embedded in the page."""

    heatmaps: dict[str, bytes] = field(default_factory=dict)
    """Per model (series label)."""
    comparison: bytes | None = None
    multi_needle: bytes | None = None
    by_position: bytes | None = None
    """Recall by needle position (many-needle runs: ``niah.report.positions``)."""
    dpi: int = 150
    """The PNGs' resolution: a figure W px wide is shown W * 72 / dpi CSS px wide."""


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) in pixels from a PNG's header; None if it is not a PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 24:
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _img(data: bytes, alt: str, dpi: int) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    size = png_size(data)
    # rounded up, so a 10 pt label is never drawn below 10 px where the page has room
    width = f' width="{math.ceil(size[0] * 72 / dpi * ZOOM)}"' if size else ""
    return (f'<img class="figure" alt="{esc(alt)}"{width} '
            f'src="data:image/png;base64,{encoded}">')


def _model_section(k: int, label: str, df: pd.DataFrame, rec: Mapping[str, Any],
                   facts: Facts, images: ReportImages) -> str:
    _, sub = select(df, label)
    parts = [f'<section id="model-{k}"><h2>{esc(facts.name)}</h2>', model_notes(rec, facts.name)]
    if label in images.heatmaps:
        what = "Judge-score heatmap" if facts.scale.judge else "Recall heatmap"
        parts.append(_img(images.heatmaps[label], f"{what} of {facts.name}", images.dpi))
    word = "Judge score" if facts.scale.judge else "Recall"
    parts.append(f"<h3>{word} by context length</h3>")
    parts.append(by_length_table(rec, facts))
    parts.append(f"<h3>{word} by depth</h3>")
    parts.append(by_depth_table(rec, facts))
    parts.append("<h3>Missed, unanswered and errored trials</h3>")
    parts.append(cells_table(sub, facts))
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


def _legend_note(judged: bool) -> str:
    hatch = (f"background:repeating-linear-gradient(135deg,{UNANSWERED_COLOR} 0 3px,"
             f"{UNANSWERED_HATCH} 3px 4px)")
    judge = ("; for judge-scored imports the same colours run from judge score 1 (red, a "
             "miss) to 10 (green), drawn against a 1–10 colour bar") if judged else ""
    return (
        '<p class="note">Heatmaps: red (0) → yellow → green (1) is the fraction of needles '
        f'found{judge}; <span class="swatch" style="background:{ERROR_COLOR}"></span>gray: '
        "no trial "
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
    sections: Sequence[str] = (),
) -> str:
    """The whole report page as one string; ``sections`` (HTML built by niah, e.g.
    ``niah.report.stats_section``) follow the figures, before the per-model sections."""
    records = {rec["model"]: rec for rec in summary.to_dict("records")}
    facts = {label: facts_of(df, label, rec) for label, rec in records.items()}
    runs = ", ".join(esc(run) for run, _ in manifests)
    body = [
        f"<h1>{esc(title)}</h1>",
        f'<p class="meta">niah {esc(__version__)} · runs: {runs} · '
        f"{len(df):,} trials, {len(records)} model(s)</p>",
        "<h2>Summary</h2>",
        summary_table(summary, facts, threshold),
        _legend_note(any(f.scale.judge for f in facts.values())),
    ]
    if images.comparison is not None:
        body += ["<h2>Comparison</h2>",
                 _img(images.comparison, "Models compared", images.dpi)]
    if images.multi_needle is not None:
        body += ["<h2>Multi-needle recall</h2>",
                 _img(images.multi_needle, "Recall against context length", images.dpi)]
    if images.by_position is not None:
        body += ["<h2>Recall by needle position</h2>",
                 _img(images.by_position, "Recall by needle position in the context",
                      images.dpi)]
    body += sections
    for k, label in enumerate(records):
        body.append(_model_section(k, label, df, records[label], facts[label], images))
    body.append(_config_section(manifests))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
