"""Entry point: dispatch to one module per command; only here are exit codes chosen.

Exit codes: 0 done, 1 a run failed, 2 bad input (one line, no traceback).
``NIAH_DEBUG=1`` re-raises so the traceback shows.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from importlib import import_module

from niah._version import __version__
from niah.cli.common import one_line
from niah.errors import NiahError, UserError

COMMANDS = (
    "plan", "build", "run", "merge", "rescore", "report", "prompt", "import_", "haystack",
    "schema", "nll",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"niah: error: {message}\n")


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="niah", description="Needle-in-a-haystack tests for long-context models.")
    parser.add_argument("--version", action="version", version=f"niah {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMANDS:
        module = import_module(f"niah.cli.{name}")
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.addLevelName(logging.WARNING, "warning")
    logging.basicConfig(format="niah: %(levelname)s: %(message)s", level=logging.WARNING)
    parser = make_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
        return code
    except UserError as exc:
        if os.environ.get("NIAH_DEBUG"):
            raise
        print(f"niah: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except NiahError as exc:
        if os.environ.get("NIAH_DEBUG"):
            raise
        print(f"niah: failed: {one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("niah: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
