"""``niah merge``: join the shard runs of one config into one run directory."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from niah.merge import merge_runs


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "merge", help="join shard runs (niah run --shard I/N) into one run directory",
        description="Check that RUN_DIRs come from one config and together hold every "
        "planned trial once, then write them as one run to --out.",
    )
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="shard run directories")
    parser.add_argument("--out", required=True, metavar="DIR", help="new run directory")
    parser.add_argument("--allow-missing", action="store_true",
                        help="merge even when planned trials are missing (they stay missing)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    result = merge_runs([Path(d) for d in args.run_dirs], Path(args.out), args.allow_missing)
    for run_dir, rows in result.per_input:
        print(f"read {rows} rows from {run_dir}")
    dup = f" ({result.duplicates} duplicate rows dropped)" if result.duplicates else ""
    print(f"merged {result.rows} rows into {result.out}{dup}")
    return 0
