"""``niah schema``: the config's JSON Schema, for editors that validate YAML."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from niah.atomic import write_text
from niah.errors import UserError
from niah.schema import experiment_schema


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "schema", help="print the experiment config's JSON Schema (for editors)",
        description="Print the JSON Schema of experiment YAML files, or write it to --out.",
    )
    parser.add_argument("--out", metavar="FILE", help="write the schema to FILE")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    text = json.dumps(experiment_schema(), indent=2) + "\n"
    if args.out is None:
        print(text, end="")
        return 0
    out = Path(args.out)
    if out.is_dir() or not out.parent.is_dir():
        raise UserError(f"--out: {out} is not a file path in an existing folder")
    write_text(out, text)
    print(f"wrote {out}")
    return 0
