"""``niah haystack fetch NAME`` and ``niah haystack list``: well-known corpora on disk.

A fetched corpus is a plain folder, used by configs as ``{kind: files, path: ...}``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from niah.haystack.fetch import KNOWN, fetch, status


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "haystack", help="fetch well-known corpora or list them",
        description="Download well-known corpora into haystacks/NAME/ and list what is there.",
    )
    sub = parser.add_subparsers(dest="haystack_command", required=True, metavar="{fetch,list}")
    known = ", ".join(KNOWN)
    fetch_parser = sub.add_parser(
        "fetch", help=f"download a corpus ({known})",
        description="Download a corpus once; later fetches verify checksums and download "
        "only missing or damaged files. NIAH_FETCH_BASE_URL replaces the host of every URL.",
    )
    fetch_parser.add_argument("name", help=f"corpus name: {known}")
    fetch_parser.add_argument(
        "--dest", default="haystacks", help="folder that holds corpora (default: haystacks)"
    )
    fetch_parser.add_argument("--force", action="store_true", help="download every file again")
    fetch_parser.set_defaults(handler=run)
    list_parser = sub.add_parser("list", help="known corpora and what is already downloaded")
    list_parser.add_argument(
        "--dest", default="haystacks", help="folder that holds corpora (default: haystacks)"
    )
    list_parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.haystack_command == "list":
        rows = status(args.dest)
        width = max(len(name) for name, _, _ in rows)
        state_width = max(len(state) for _, state, _ in rows)
        for name, state, description in rows:
            print(f"{name:<{width}}  {state:<{state_width}}  {description}".rstrip())
        return 0

    def progress(name: str) -> None:
        print(f"  downloaded {name}", file=sys.stderr)

    result = fetch(args.name, args.dest, force=args.force, progress=progress)
    total = len(result.downloaded) + len(result.cached)
    print(
        f"{result.folder}: {total} files ({len(result.downloaded)} downloaded, "
        f"{len(result.cached)} already there and verified)"
    )
    print(
        f"use it with  haystack: {{kind: files, path: {result.folder.resolve()}}}"
        "  (relative paths in a config resolve against the config file)"
    )
    return 0
