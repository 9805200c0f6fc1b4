"""``niah prompt``: the exact prompt of a stored trial, rebuilt and checked by sha256."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from niah.reconstruct import PromptMismatch, rebuild


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "prompt", help="rebuild the exact prompt of a stored trial and check its sha256",
        description="Rebuild the prompt of TRIAL (an id or a unique prefix) from RUN_DIR's "
        "manifest, check it against the row's prompt_sha256, and print it.",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory of niah run")
    parser.add_argument("trial", metavar="TRIAL", help="trial id, or a unique prefix of one")
    parser.add_argument("--model", metavar="ID", help="the model, when the run has several")
    parser.add_argument("--json", action="store_true",
                        help="print the messages, needles and digest as one JSON object")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    rebuilt = rebuild(Path(args.run_dir), args.trial, args.model)
    row, prompt = rebuilt.row, rebuilt.prompt
    if not rebuilt.matches:
        raise PromptMismatch(
            f"trial {row.trial_id} ({row.model}): the rebuilt prompt's sha256 "
            f"{prompt.prompt_sha256[:16]}... differs from the stored {row.prompt_sha256[:16]}... "
            "(the haystack files or the niah version changed since the run)"
        )
    if args.json:
        json.dump({"trial_id": row.trial_id, "model": row.model,
                   "prompt_sha256": prompt.prompt_sha256, "messages": prompt.messages,
                   "needles": [n.__dict__ for n in prompt.needles]},
                  sys.stdout, ensure_ascii=False)
        print()
        return 0
    for message in prompt.messages:
        print(f"--- {message['role']} ---")
        print(message["content"])
    print(f"--- sha256 {prompt.prompt_sha256} matches the stored row "
          f"({row.context_length} tokens, depth {row.requested_depth:g}%) ---", file=sys.stderr)
    return 0
