"""``niah report RUN_DIR [RUN_DIR ...]``: figures, summary.csv and report.html from results.

Reads files only; never calls a model.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import warnings
from typing import TYPE_CHECKING

from niah.errors import UserError

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
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directory")
    parser.add_argument("--out", metavar="DIR", help="output directory (default RUN_DIR/report)")
    parser.add_argument("--format", default="png", help="figure formats: png,svg,pdf (default png)")
    parser.add_argument("--title", help="title of the figures and the HTML page")
    parser.add_argument(
        "--threshold", type=float, default=0.85,
        help="effective context length: keep recall >= this x the shortest length's (0.85)",
    )
    parser.add_argument(
        "--split-at", metavar="TOKENS",
        help="split the comparison's length axis after this length, e.g. 1M",
    )
    parser.set_defaults(handler=run)


def parse_tokens(text: str) -> int:
    """``1M`` -> 1000000, ``128K`` -> 128000, ``4096`` -> 4096."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*", text)
    if not match:
        raise UserError(f"--split-at: expected a length like 1M or 128000, got {text!r}")
    scale = {"": 1, "k": 1000, "m": 1_000_000}[match.group(2).lower()]
    return round(float(match.group(1)) * scale)


def _pct(x: float) -> str:
    return "–" if x is None or math.isnan(x) else f"{x:.1%}"


def summary_table(summary: pd.DataFrame) -> Table:
    import pandas as pd
    from rich.table import Table
    from rich.text import Text

    from niah.report.heatmap import human_tokens

    table = Table(title="Summary", title_justify="left")
    widest = max((len(str(m)) for m in summary["model"]), default=5)
    table.add_column("Model", no_wrap=True, min_width=min(widest, 60))
    for name in ("Recall", "Effective context", "Longest", "Trials", "API errors", "Cost (USD)"):
        table.add_column(name, justify="right")
    for rec in summary.to_dict("records"):
        eff = rec["effective_context_length"]
        cost = rec["cost_usd"]
        table.add_row(
            Text(str(rec["model"])),
            _pct(rec["recall"]),
            "–" if eff is None or eff is pd.NA else human_tokens(int(eff)),
            human_tokens(int(rec["max_context_length"])),
            f"{rec['trials']:,}",
            f"{rec['errors']:,} ({_pct(rec['error_rate'])})",
            "–" if math.isnan(cost) else f"{cost:,.4f}",
        )
    return table


def run(args: argparse.Namespace) -> int:
    from niah.nll.results import is_nll_run

    if any(is_nll_run(d) for d in args.run_dirs):  # NLL-by-position runs: their own report
        from niah.cli.nll import report as nll_report

        return nll_report(args)
    from niah.analysis import ResultsWarning
    from niah.cli.common import console as make_console
    from niah.report.build import build_report, parse_formats

    formats = parse_formats(args.format)
    split_at = parse_tokens(args.split_at) if args.split_at else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResultsWarning)
        report = build_report(
            args.run_dirs, out=args.out, formats=formats, title=args.title,
            threshold=args.threshold, split_at=split_at,
        )
    for w in caught:
        print(f"niah: warning: {w.message}", file=sys.stderr)
    # Model ids come from result files: print them as text, never as rich markup.
    console = make_console()
    console.print(summary_table(report.summary))
    console.print(f"report: {report.out_dir / 'report.html'}")
    console.print(f"files: {len(report.files)} in {report.out_dir}")
    return 0
