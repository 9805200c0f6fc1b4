"""``niah nll CONFIG``: per-token NLL by position over documents, stored like a run.

``niah report RUN_DIR`` on an NLL run directory draws the curves and their power-law
fits (``report`` calls ``report`` below).
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table
from rich.text import Text

from niah.cli.common import console, one_line
from niah.config import parse_override
from niah.fmt import tokens as human_tokens


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "nll", help="measure NLL by token position over long documents (Gemini 1.5 style)",
        description="Score every token of CONFIG's documents with the model's log-"
        "probabilities, in non-overlapping windows, and store per-token NLL arrays. "
        "An interrupted run resumes where it stopped. Draw the figure with niah report.",
    )
    parser.add_argument("config", help="NLL config YAML file")
    parser.add_argument("--out", metavar="DIR",
                        help="run directory (default: results/<name>/<UTC time>/, or the "
                        "latest run of the same config, which is resumed)")
    parser.add_argument("--fresh", action="store_true",
                        help="start a new run directory instead of resuming")
    parser.add_argument("--dry-run", action="store_true",
                        help="show documents, tokens and windows; score and write nothing")
    parser.add_argument("--no-cache", action="store_true",
                        help="score every window again instead of reusing cached values")
    parser.add_argument("--window", type=int, metavar="TOKENS", help="tokens per window")
    parser.add_argument("--model", action="append", metavar="ID",
                        help="model id (repeat for several models)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override any config field by dotted path, e.g. window=2048")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from niah.nll.config import NllConfig, load_nll_config
    from niah.nll.runner import plan_nll, run_nll

    overrides: dict[str, Any] = dict(parse_override(item, NllConfig) for item in args.set)
    if args.window is not None:
        overrides["window"] = args.window
    if args.model:
        overrides["model"] = list(args.model)
    config = load_nll_config(args.config, **overrides)
    plan = plan_nll(config)
    out, err = console(), console(stderr=True)
    out.print(plan_table(plan))
    if args.dry_run:
        plan.close()
        return 0

    def progress(row: Any, done: int, total: int) -> None:
        where = f"[{done}/{total}] {row.model} {row.corpus} {row.document}"
        if row.error is not None:
            err.print(f"{where}: failed: {row.error.message}", soft_wrap=True, emoji=False)
            return
        speed = f", {row.scored / row.seconds:,.0f} tokens/s" if row.seconds else ""
        how = "cached" if row.cached else f"{row.seconds:.1f} s{speed}"
        err.print(f"{where}: {row.tokens:,} tokens, mean NLL {row.mean_nll:.3f} ({how})",
                  soft_wrap=True, emoji=False)

    try:
        result = run_nll(config, args.out, fresh=args.fresh, cache=not args.no_cache,
                         plan=plan, on_document=progress)
    except KeyboardInterrupt:
        err.print("interrupted: finished documents are kept; run the same command to resume",
                  emoji=False)
        raise
    out.print(f"run: {result.run_dir}", soft_wrap=True, emoji=False)
    out.print(f"figure: niah report {result.run_dir}", soft_wrap=True, emoji=False)
    if result.failures:
        first = result.failures[0]
        message = first.error.message if first.error else ""
        err.print(f"niah: failed: {len(result.failures)} document(s) failed, e.g. "
                  f"{first.document}: {one_line(message)}; run the same command to retry them",
                  soft_wrap=True, emoji=False)
        return 1
    return 0


def plan_table(plan: Any) -> Table:
    table = Table(title=f"{plan.config.name}: NLL by position", title_justify="left")
    for name in ("model", "tokenizer", "window", "corpus", "documents", "skipped", "tokens",
                 "windows"):
        table.add_column(name, justify="right" if name in ("window", "documents", "skipped",
                                                           "tokens", "windows") else "left")
    for model in plan.models:
        for corpus in plan.config.corpora:
            docs = [d for d in model.documents if d.corpus == corpus.name]
            tokens = sum(len(d.ids) for d in docs)
            windows = sum(-(-len(d.ids) // model.window) for d in docs)
            table.add_row(Text(model.spec.id), Text(model.tokenizer_name.split("/")[-1]),
                          f"{model.window:,}", Text(corpus.name), str(len(docs)),
                          str(model.skipped.get(corpus.name, 0)), f"{tokens:,}", str(windows))
    return table


def report(args: argparse.Namespace) -> int:
    """``niah report`` for NLL run directories: figure, fit table, CSVs."""
    from niah.errors import UserError
    from niah.nll.report import build_nll_report
    from niah.nll.results import is_nll_run
    from niah.report.build import parse_formats

    others = [d for d in args.run_dirs if not is_nll_run(d)]
    if others:
        raise UserError(f"{others[0]}: not an NLL run; report NLL runs and needle runs apart")
    result = build_nll_report(args.run_dirs, out=args.out, formats=parse_formats(args.format),
                              title=args.title)
    table = Table(title="Power-law fits L(x) = α·x^(−β) + γ (95% intervals)",
                  title_justify="left")
    for name in ("model", "corpus", "docs", "tokens", "α", "β", "γ", "R²", "leaves fit at"):
        table.add_column(name)
    for s in result.series:
        f = s.fit
        if f is None:
            table.add_row(Text(s.label), Text(s.corpus), str(len(s.documents)),
                          human_tokens(s.tokens), "-", "-", "-", "-",
                          Text(f"fit failed: {s.fit_error}"))
            continue
        cells = [f"{getattr(f, p):.3g} [{f.intervals[p][0]:.3g}, {f.intervals[p][1]:.3g}]"
                 for p in ("alpha", "beta", "gamma")]
        leaves = human_tokens(f.departure) if f.departure is not None else \
            f"never (±{f.deviation:.0%})"
        table.add_row(Text(s.label), Text(s.corpus), str(len(s.documents)),
                      human_tokens(s.tokens), *cells, f"{f.r2:.4f}", leaves)
    out = console()
    out.print(table)
    intervals = {s.fit.interval_method for s in result.series if s.fit is not None}
    out.print(f"intervals: {', '.join(sorted(intervals))}", emoji=False)
    figure = next((p for p in result.files if p.stem == "nll"), result.out_dir)
    out.print(f"figure: {figure}", soft_wrap=True, emoji=False)
    out.print(f"files: {len(result.files)} in {result.out_dir}", soft_wrap=True, emoji=False)
    return 0
