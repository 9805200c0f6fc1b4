"""``niah report RUN_DIR [RUN_DIR ...]``: figures, summary.csv and report.html from results.

Reads files only; never calls a model.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from niah.errors import ConfigError
from niah.fmt import money, parse_tokens, tokens

if TYPE_CHECKING:  # pandas and matplotlib load only when a report is drawn
    import pandas as pd
    from rich.table import Table


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "report",
        help="draw heatmaps, a summary and an HTML report from run directories",
        description="Draw heatmaps, a summary and an HTML report from run directories. "
        "Reads result files only; never calls a model.",
    )
    parser.add_argument(
        "run_dirs", nargs="+", metavar="RUN_DIR",
        help="run directory, or an experiment folder (results/NAME) for its latest run",
    )
    parser.add_argument("--out", metavar="DIR", help="output directory (default RUN_DIR/report)")
    parser.add_argument("--format", default="png", help="figure formats: png,svg,pdf (default png)")
    parser.add_argument("--title", help="title of the figures and the HTML page")
    parser.add_argument(
        "--threshold", type=float, default=0.85,
        help="effective context length: keep recall >= this x the shortest length's (0.85)",
    )
    parser.add_argument(
        "--absolute-threshold", type=float, default=0.856, metavar="RECALL",
        help="absolute effective context length: keep recall >= this at every length "
        "(RULER's convention; default 0.856, Llama-2-7B's RULER score at 4K)",
    )
    parser.add_argument(
        "--confidence", type=float, default=0.95, metavar="LEVEL",
        help="level of the confidence intervals (Wilson) and model comparisons (0.95)",
    )
    parser.add_argument(
        "--split-at", metavar="TOKENS",
        help="split the comparison's length axis after this length, e.g. 1M",
    )
    parser.add_argument(
        "--annotate", action=argparse.BooleanOptionalAction, default=None,
        help="write each cell's value in it, in any grid whose cells can hold them "
        "(default: only in small grids)",
    )
    parser.set_defaults(handler=run)


def split_length(text: str) -> int:
    """``--split-at 1M`` -> 1000000, read like ``--lengths`` (``niah.fmt.parse_tokens``)."""
    try:
        return parse_tokens(text)
    except ValueError as exc:
        raise ConfigError("--split-at", str(exc)) from None


def _pct(x: float) -> str:
    return "–" if x is None or math.isnan(x) else f"{x:.1%}"


def summary_table(summary: pd.DataFrame, df: pd.DataFrame | None = None) -> Table:
    """The summary as a terminal table. With the results frame ``df``, models are named
    as figures name them (scripted fakes say so), judge-scored imports show their mean
    judge score and imported lengths are marked estimated."""
    import pandas as pd
    from rich.table import Table
    from rich.text import Text

    from niah.analysis import select
    from niah.report.scale import RECALL, display_name_of, scale_of

    table = Table(title="Summary", title_justify="left")
    names = {str(m): display_name_of(df, str(m)) if df is not None else str(m)
             for m in summary["model"]}
    widest = max((len(n) for n in names.values()), default=5)
    table.add_column("Model", no_wrap=True, min_width=min(widest, 60))
    scales = {m: scale_of(select(df, m)[1]) if df is not None else RECALL for m in names}
    judged = any(s.judge for s in scales.values())
    for name in ("Recall" + (" / judge" if judged else ""), "Effective context", "Longest",
                 "Trials", "API errors", "Unanswered", "Cost"):
        table.add_column(name, justify="right")
    for rec in summary.to_dict("records"):
        eff = rec["effective_context_length"]
        cost = rec["cost_usd"]
        scale = scales[str(rec["model"])]
        est = " (est.)" if rec.get("lengths") == "estimated" else ""
        table.add_row(
            Text(names[str(rec["model"])]),
            scale.table(rec["recall"]) if scale.judge else _pct(rec["recall"]),
            "–" if eff is None or eff is pd.NA else tokens(int(eff)) + est,
            tokens(int(rec["max_context_length"])) + est,
            f"{rec['trials']:,}",
            f"{rec['errors']:,} ({_pct(rec['error_rate'])})",
            f"{rec['unanswered']:,} ({_pct(rec['unanswered_rate'])})",
            money(None if math.isnan(cost) else cost),
        )
    return table


def summary_warnings(summary: pd.DataFrame) -> list[str]:
    """Token-count mismatches and lengths not in the model's own tokens, one line each."""
    from niah.lengths import LengthBasis

    lines = []
    for rec in summary.to_dict("records"):
        if rec["token_mismatch"]:
            lines.append(f"warning: {rec['token_mismatch']}")
        note = LengthBasis(rec["lengths"], rec["tokenizer"]).note(str(rec["model"]))
        if note:
            lines.append(f"note: {note}")
    return lines


def run(args: argparse.Namespace) -> int:
    from niah.nll.results import is_nll_run

    if any(is_nll_run(d) for d in args.run_dirs):  # NLL-by-position runs: their own report
        from niah.cli.nll import report as nll_report

        return nll_report(args)
    from niah.analysis import ResultsWarning
    from niah.cli.common import console as make_console
    from niah.layout import find_run
    from niah.report.build import build_report, parse_formats

    formats = parse_formats(args.format)
    split_at = split_length(args.split_at) if args.split_at else None
    console = make_console()  # model ids come from result files: text, never rich markup
    run_dirs: list[Path] = []
    for given in args.run_dirs:
        run_dir = find_run(given)
        if run_dir != Path(given).expanduser():
            console.print(f"{given}: its latest run is {run_dir}", soft_wrap=True)
        if run_dir.resolve() not in [r.resolve() for r in run_dirs]:  # a/latest and a/<time>
            run_dirs.append(run_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResultsWarning)
        report = build_report(
            run_dirs, out=args.out, formats=formats, title=args.title,
            threshold=args.threshold, split_at=split_at, annotate=args.annotate,
            absolute_threshold=args.absolute_threshold, confidence=args.confidence,
        )
    for w in caught:
        print(f"niah: warning: {w.message}", file=sys.stderr)
    console.print(summary_table(report.summary, report.frame))
    for line in summary_warnings(report.summary):
        print(f"niah: {line}", file=sys.stderr)
    console.print(f"report: {report.out_dir / 'report.html'}")
    console.print(f"files: {len(report.files)} in {report.out_dir}")
    return 0
