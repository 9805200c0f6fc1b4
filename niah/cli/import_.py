"""``niah import gkamradt PATH --out DIR``: convert other harnesses' results to niah runs.

The module is ``import_`` because ``import`` is a keyword; the command is ``import``.
"""

from __future__ import annotations

import argparse
from typing import Any

MODEL_FROM = {
    "--model": "not in the file: named by --model",
    "published": "not in the file: named as gkamradt's published figure names it; "
                 "--model renames it",
}


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "import",
        help="convert results of another harness into a niah run directory",
        description="Convert results of another harness into a niah run directory, "
        "so they can be drawn with niah report and compared with new runs. gkamradt's "
        "1-10 judge scores are stored as (judge - 1) / 9 (1 -> 0, 10 -> 1) and drawn "
        "as judge scores.",
    )
    parser.add_argument("source", choices=["gkamradt"], help="format of the results")
    parser.add_argument("path", metavar="PATH", help="a result file or a folder of them")
    parser.add_argument("--out", required=True, metavar="DIR", help="new run directory")
    parser.add_argument(
        "--provider", default="gkamradt",
        help="prefix of the model ids, which become PROVIDER/MODEL (default gkamradt)",
    )
    parser.add_argument(
        "--model", metavar="NAME",
        help="model name for files that name none (gkamradt's score lists of "
        "{token_limit, depth_percent, score}); files that name their model keep it",
    )
    parser.add_argument("--experiment", default="gkamradt-import", help="experiment name")
    parser.set_defaults(handler=run)


def describe(entry: dict[str, Any]) -> str:
    """One line per file (or per folder of one-test files) that was read."""
    files = f"{entry['files']:,} files, " if entry["files"] > 1 else ""
    count = entry["records"]
    line = (f"{entry['file']}: {files}{count:,} result{'s' * (count != 1)} "
            f"({entry['layout']}) of {', '.join(entry['models'])}")
    if "model_from" in entry:
        line += f" (model {MODEL_FROM[entry['model_from']]})"
    return line


def run(args: argparse.Namespace) -> int:
    from niah.importers import import_gkamradt, read_report  # loads pydantic models

    imported = import_gkamradt(
        args.path, args.out, provider=args.provider, experiment=args.experiment,
        model=args.model,
    )
    for entry in read_report(imported.files, args.provider):
        print(f"read {describe(entry)}")
    print(f"imported {imported.rows:,} results into {imported.target}")
    print(f"draw them with: niah report {imported.target.parent}")
    return 0
