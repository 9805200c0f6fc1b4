"""``niah import gkamradt PATH --out DIR``: convert other harnesses' results to niah runs.

The module is ``import_`` because ``import`` is a keyword; the command is ``import``.
"""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "import",
        help="convert results of another harness into a niah run directory",
        description="Convert results of another harness into a niah run directory, "
        "so they can be drawn with niah report and compared with new runs.",
    )
    parser.add_argument("source", choices=["gkamradt"], help="format of the results")
    parser.add_argument("path", metavar="PATH", help="a result file or a folder of them")
    parser.add_argument("--out", required=True, metavar="DIR", help="new run directory")
    parser.add_argument(
        "--provider", default="gkamradt",
        help="prefix of the model ids, which become PROVIDER/MODEL (default gkamradt)",
    )
    parser.add_argument("--experiment", default="gkamradt-import", help="experiment name")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from niah.importers import import_gkamradt  # loads pandas: only when importing

    target, count = import_gkamradt(
        args.path, args.out, provider=args.provider, experiment=args.experiment
    )
    print(f"imported {count} results into {target}")
    print(f"draw them with: niah report {target.parent}")
    return 0
