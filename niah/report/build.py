"""``niah report``: result files in, figures + CSV tables + report.html out.

Reads only ``results.jsonl`` and ``manifest.json``; never calls a model. Every file
is written atomically, so an interrupted report never leaves a half-written figure.

Tables: ``summary.csv`` (one row per model), ``cells.csv`` (one row per model, length
and depth: what the heatmaps are drawn from), ``by_length.csv`` and ``by_depth.csv``
(recall with intervals), and with two or more models ``comparison.csv`` (each pair's
difference per length and whether it is within noise). See ``niah.tidy``. Runs scored by
an LLM judge add ``judge_agreement.csv`` (``niah.report.agreement``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from niah.analysis import is_multi_needle, load_results, series_labels, summarize
from niah.atomic import write_bytes, write_text
from niah.errors import UserError
from niah.report.agreement import agreement_frame, judge_section
from niah.report.compare import plot_comparison
from niah.report.heatmap import plot_heatmap, plot_multi_needle
from niah.report.html import ReportImages, _img, render_html
from niah.report.positions import has_many_needles, plot_recall_by_position, position_table
from niah.report.rag import pair_table, plot_rag_pair, rag_pairs, rag_section
from niah.report.scale import display_name_of, normalize_judge
from niah.report.stats_section import stats_section
from niah.report.write import figure_bytes, slug
from niah.results import read_manifest
from niah.stats import CONFIDENCE, RULER_THRESHOLD
from niah.tidy import cells_frame, compare_models, recall_frame

FORMATS = ("png", "svg", "pdf")
DPI = 150


@dataclass
class Report:
    """What a report run produced."""

    out_dir: Path
    summary: pd.DataFrame
    files: list[Path] = field(default_factory=list)
    frame: pd.DataFrame | None = None
    """The results the report was drawn from (judge scores mapped, ``normalize_judge``)."""


def parse_formats(text: str) -> tuple[str, ...]:
    """``png,svg`` -> ("png", "svg"); unknown formats are a ``UserError``."""
    formats = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise UserError(f"--format: expected some of {','.join(FORMATS)}, got {text!r}")
    return formats


def summary_csv(summary: pd.DataFrame) -> str:
    """The summary as CSV; per-length and per-depth recall become JSON objects."""
    out = summary.copy()
    for column in ("recall_by_length", "recall_by_depth"):
        out[column] = [
            json.dumps({f"{k:g}" if isinstance(k, float) else str(k): v for k, v in d.items()})
            for d in out[column]
        ]
    return table_csv(out)


def table_csv(table: pd.DataFrame) -> str:
    """A tidy table as CSV (missing values as empty fields)."""
    text: str = table.to_csv(index=False, lineterminator="\n")
    return text


def _unique_slugs(labels: Sequence[str]) -> dict[str, str]:
    taken: dict[str, str] = {}
    used: set[str] = set()
    for label in labels:
        base = slug(label)
        name, k = base, 2
        while name in used:
            name, k = f"{base}-{k}", k + 1
        used.add(name)
        taken[label] = name
    return taken


MAX_TITLE_MODELS = 4


def default_title(df: pd.DataFrame) -> str:
    """``Needle in a haystack: a/x vs b/y``: the models, as figures and tables name them."""
    names = [display_name_of(df, label) for label in series_labels(df)]
    shown = " vs ".join(names[:MAX_TITLE_MODELS])
    if len(names) > MAX_TITLE_MODELS:
        shown += f" and {len(names) - MAX_TITLE_MODELS} more"
    return f"Needle in a haystack: {shown}" if names else "Needle in a haystack"


def build_report(
    run_dirs: Sequence[str | Path],
    out: str | Path | None = None,
    formats: Sequence[str] = ("png",),
    title: str | None = None,
    threshold: float = 0.85,
    split_at: int | None = None,
    absolute_threshold: float = RULER_THRESHOLD,
    confidence: float = CONFIDENCE,
    annotate: bool | None = None,
) -> Report:
    """Write heatmaps, a comparison (several models), multi-needle curves, the CSV
    tables and report.html for the given runs into ``out`` (default: first run's
    ``report/``). ``threshold`` and ``absolute_threshold`` set the two effective
    context lengths, ``confidence`` the level of every interval (``niah.stats``).

    Judge-scored imports are read as ``(judge - 1) / 9`` whatever niah version imported
    them (``niah.report.scale``). ``annotate``: write cell values (None: small grids).
    """
    if not run_dirs:
        raise UserError("niah report: give at least one run directory")
    df = normalize_judge(load_results(*run_dirs))
    for run_dir in run_dirs:
        if not (df["run_dir"] == str(Path(run_dir))).any():
            raise UserError(f"{run_dir}: results.jsonl holds no results")
    if not 0 < threshold <= 1:
        raise UserError(f"--threshold: must be in (0, 1], got {threshold}")
    if not 0 < absolute_threshold <= 1:
        raise UserError(f"--absolute-threshold: must be in (0, 1], got {absolute_threshold}")
    if not 0 < confidence < 1:
        raise UserError(f"--confidence: must be in (0, 1), got {confidence}")
    first = Path(run_dirs[0])
    base = first.parent if first.is_file() else first
    out_dir = Path(out) if out is not None else base / "report"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{out_dir}: cannot create the output directory ({exc.strerror})") from None
    summary = summarize(df, threshold, absolute_threshold, confidence)
    report = Report(out_dir=out_dir, summary=summary, frame=df)
    images = ReportImages()
    labels = series_labels(df)

    def emit(figure_name: str, fig: Figure) -> bytes:
        png = b""
        for fmt in dict.fromkeys(["png", *formats]):
            data = figure_bytes(fig, fmt, DPI)
            if fmt == "png":
                png = data
            if fmt in formats:
                report.files.append(write_bytes(out_dir / f"{figure_name}.{fmt}", data))
        return png

    for label, name in _unique_slugs(labels).items():
        images.heatmaps[label] = emit(f"heatmap_{name}",
                                      plot_heatmap(df, label, title=title, annotate=annotate))
    if len(labels) > 1:
        images.comparison = emit("comparison", plot_comparison(
            df, split_at=split_at, title=title, annotate=annotate))
    rag_images: dict[str, tuple[bytes, bytes]] = {}
    for model, twin in rag_pairs(df):  # long context versus its RAG twin
        lines, heat = plot_rag_pair(df, model, twin)
        name = slug(twin)
        rag_images[twin] = (emit(f"rag_recall_by_length_{name}", lines),
                            emit(f"rag_retrieval_{name}", heat))
        report.files.append(write_text(out_dir / f"rag_{name}.csv",
                                       table_csv(pair_table(df, model, twin))))
    if is_multi_needle(df):
        images.multi_needle = emit("multi_needle", plot_multi_needle(df, confidence=confidence))
    if has_many_needles(df):
        images.by_position = emit("by_position", plot_recall_by_position(df, confidence))
        report.files.append(write_text(out_dir / "by_position.csv",
                                       table_csv(position_table(df, confidence))))
    report.files.append(write_text(out_dir / "summary.csv", summary_csv(summary)))
    by_length = recall_frame(df, "context_length", confidence)
    by_depth = recall_frame(df, "requested_depth", confidence)
    comparison = compare_models(df, "context_length", confidence) if len(labels) > 1 else None
    agreement = agreement_frame(df)  # an LLM judge beside the deterministic scorer
    tables = {"cells": cells_frame(df, confidence), "by_length": by_length,
              "by_depth": by_depth, "comparison": comparison,
              "judge_agreement": None if agreement.empty else agreement}
    for name, table in tables.items():
        if table is not None:
            report.files.append(write_text(out_dir / f"{name}.csv", table_csv(table)))
    manifests = [(str(Path(r)), _manifest_dict(r)) for r in run_dirs]
    page = render_html(df, summary, images, manifests, title=title or default_title(df),
                       threshold=threshold,
                       sections=[stats_section(summary, by_length, by_depth, comparison),
                                 rag_section(df, rag_images, lambda data, alt: _img(data, alt,
                                                                                   DPI)),
                                 judge_section(df)])
    report.files.append(write_text(out_dir / "report.html", page))
    return report


def _manifest_dict(run_dir: str | Path) -> dict[str, Any] | None:
    manifest = read_manifest(run_dir)
    return manifest.model_dump(mode="json", exclude_none=True) if manifest else None
