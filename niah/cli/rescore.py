"""``niah rescore``: score stored responses again, without calling any model.

The rows are rewritten whole (temp file, fsync, rename) under the run's lock; the
previous file is kept as ``results.jsonl.bak`` and the manifest records the scorer.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from niah.atomic import write_text
from niah.config import ScoringSpec, config_error
from niah.errors import StoreError, UserError
from niah.rows import ResultRow
from niah.scoring import check_spec, score
from niah.store import (
    MANIFEST_FILE,
    RESULTS_FILE,
    RunLock,
    load_rows,
    read_manifest,
    utc_now,
)


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "rescore", help="score the stored responses of a run again (no model is called)",
        description="Rescore every answered row of RUN_DIR with the run's scorer or the one "
        "given here; the old results are kept as results.jsonl.bak.",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory of niah run")
    parser.add_argument("--scoring", choices=("contains", "exact", "regex"),
                        help="scorer (default: the run's own, from its manifest)")
    parser.add_argument("--pattern", help="regex with {answer} for --scoring regex")
    parser.set_defaults(handler=run)


def scoring_spec(run_dir: Path, kind: str | None, pattern: str | None) -> ScoringSpec:
    """The scorer asked for, else the one the run was made with."""
    manifest = read_manifest(run_dir) or {}
    saved = manifest.get("config", {}).get("scoring") or {}
    data: dict[str, Any] = dict(saved) if kind is None and pattern is None else {}
    if kind is not None:
        data["kind"] = kind
    if pattern is not None:
        data["pattern"] = pattern
        data.setdefault("kind", "regex")
    try:
        spec = ScoringSpec.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, prefix="scoring.") from None
    check_spec(spec)
    return spec


def rescore_rows(rows: list[ResultRow], spec: ScoringSpec) -> tuple[list[ResultRow], int]:
    """Rows with fresh scores (error rows untouched), and how many scores changed."""
    out: list[ResultRow] = []
    changed = 0
    for row in rows:
        if row.error is not None or row.response is None:
            out.append(row)
            continue
        new_score, hits = score(row.needles, row.response, spec)
        needles = [
            n.model_copy(update={"found": hit}) for n, hit in zip(row.needles, hits, strict=True)
        ]
        changed += new_score != row.score
        out.append(row.model_copy(update={"score": new_score, "needles": needles}))
    return out, changed


def _replace_keeping_backup(results: Path, text: str) -> None:
    tmp = results.with_name(f".{RESULTS_FILE}.{os.getpid()}.tmp")
    backup = results.with_name(RESULTS_FILE + ".bak")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        backup.unlink(missing_ok=True)
        try:
            os.link(results, backup)  # the old file stays whole under both names
        except OSError:
            shutil.copy2(results, backup)
        os.replace(tmp, results)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"{results}: cannot rewrite ({exc.strerror or exc})") from exc


def rescore_run(run_dir: Path, spec: ScoringSpec) -> tuple[int, int]:
    """Rescore ``run_dir`` in place under its lock; (rows, rows whose score changed)."""
    results = run_dir / RESULTS_FILE
    if not results.is_file():
        raise UserError(f"{run_dir}: no {RESULTS_FILE} (not a niah run directory)")
    lock = RunLock(run_dir)
    lock.acquire()
    try:
        rows, changed = rescore_rows(load_rows(run_dir), spec)
        _replace_keeping_backup(results, "".join(r.model_dump_json() + "\n" for r in rows))
        manifest = read_manifest(run_dir)
        if manifest is not None:
            manifest.setdefault("config", {})["scoring"] = spec.model_dump(mode="json")
            manifest.setdefault("rescored", []).append(
                {"at": utc_now().isoformat(timespec="seconds"), "scoring": spec.model_dump()}
            )
            write_text(run_dir / MANIFEST_FILE, json.dumps(manifest, indent=2) + "\n")
    finally:
        lock.release()
    return len(rows), changed


def run(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    spec = scoring_spec(run_dir, args.scoring, args.pattern)
    total, changed = rescore_run(run_dir, spec)
    print(f"rescored {total} rows of {run_dir} with {spec.kind}: {changed} scores changed "
          f"(previous file: {run_dir / (RESULTS_FILE + '.bak')})")
    return 0
