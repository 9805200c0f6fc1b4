"""``niah merge``: shard runs of one config joined into one run, none lost, none twice.

Shards of a sweep (``niah run --shard I/N`` on several machines) each write a run
directory. Merging checks that they were made from the same config (a hash of
everything but the run settings, which may differ per machine), that together they
hold every planned trial of every model exactly once, and writes one run directory
that ``niah report`` reads exactly as an unsharded run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from niah._version import __version__
from niah.atomic import write_text
from niah.errors import NiahError, ResultsError, UserError
from niah.fmt import tokens
from niah.plan import Trial, plan, prefix_order
from niah.reconstruct import manifest_experiment
from niah.results import (
    MANIFEST_FILE,
    RESULTS_FILE,
    Manifest,
    ResultRow,
    manifest_text,
    read_manifest,
    read_rows,
    rows_text,
)
from niah.shard import Shard, select
from niah.store import utc_now

MACHINE_SETTINGS = ("run", "description")
"""Config parts that may differ between shards (concurrency, timeouts, rate limits)."""


class MergeIncomplete(NiahError):
    """The shards do not hold every planned trial (exit 1); nothing was written."""


def config_hash(manifest: Manifest) -> str:
    """Hash of the config that decides which trials exist and what they send."""
    kept = {k: v for k, v in manifest.config.items() if k not in MACHINE_SETTINGS}
    blob = json.dumps(kept, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass
class MergeResult:
    out: Path
    rows: int
    duplicates: int
    per_input: list[tuple[Path, int]] = field(default_factory=list)


def _where(trial: Trial, shards: int, order: list[Trial]) -> str:
    place = f"{tokens(trial.context_length)} at {trial.requested_depth:g}%"
    if shards > 1:
        for index in range(1, shards + 1):
            if any(t.trial_id == trial.trial_id for t in select(order, Shard(index, shards))):
                return f"{place} (shard {index}/{shards})"
    return place


def merge_runs(run_dirs: Sequence[Path], out: Path, allow_missing: bool = False) -> MergeResult:
    """Join ``run_dirs`` into a new run directory ``out``."""
    if not run_dirs:
        raise UserError("merge: give at least one run directory")
    if out.exists() and any(out.iterdir()):
        raise UserError(f"--out {out}: exists and is not empty; merge into a new directory")
    manifests: list[Manifest] = []
    for run_dir in run_dirs:
        manifest = read_manifest(run_dir)
        if manifest is None:
            raise UserError(f"{run_dir}: no {MANIFEST_FILE} (not a niah run directory)")
        if manifests and config_hash(manifest) != config_hash(manifests[0]):
            raise UserError(f"{run_dir}: a run of another config than {run_dirs[0]} "
                            f"(config hash {config_hash(manifest)} vs "
                            f"{config_hash(manifests[0])}); only shards of one config merge")
        manifests.append(manifest)
    counts = {m.shard["count"] for m in manifests if m.shard}
    if len(counts) > 1:
        raise UserError(f"shards of different splits ({', '.join(map(str, sorted(counts)))}) "
                        "cannot be merged")
    shards = counts.pop() if counts else 1
    experiment = manifest_experiment(manifests[0], run_dirs[0])
    order = prefix_order(plan(experiment))
    rank = {t.trial_id: i for i, t in enumerate(order)}
    models = [m.id for m in experiment.model]
    kept: dict[tuple[str, str], ResultRow] = {}
    duplicates = 0
    per_input: list[tuple[Path, int]] = []
    for run_dir in run_dirs:
        rows = read_rows(run_dir)
        per_input.append((run_dir, len(rows)))
        for row in rows:
            key = (row.model, row.trial_id)
            if key in kept:
                duplicates += 1
                if kept[key].score is not None and row.score is None:
                    continue  # keep the answered copy
            if row.trial_id not in rank or row.model not in models:
                raise ResultsError(f"{run_dir}: row {row.trial_id} ({row.model}) is not a "
                                   "trial of the config")
            kept[key] = row
    missing = [(model, t) for model in models for t in order if (model, t.trial_id) not in kept]
    if missing and not allow_missing:
        model, first = missing[0]
        raise MergeIncomplete(
            f"{len(missing)} planned trial(s) missing, e.g. {model} {first.trial_id} "
            f"({_where(first, shards, order)}); run the missing shard(s) and merge again, or "
            "pass --allow-missing"
        )
    rows = sorted(kept.values(), key=lambda r: (models.index(r.model), rank[r.trial_id]))
    base = manifests[0]
    facts = {m["id"]: m for manifest in manifests for m in manifest.models if "id" in m}
    merged = Manifest(
        niah_version=__version__, experiment=base.experiment, fingerprint=base.fingerprint,
        started_at=min(m.started_at for m in manifests), config=base.config,
        config_dir=base.config_dir, models=list(facts.values()), host=base.host,
        sessions=[s for m in manifests for s in m.sessions],
        warnings=sorted({w for m in manifests for w in m.warnings}),
        merged_from=[str(Path(d).resolve()) for d in run_dirs],
    )
    merged.sessions.append({"merged_at": utc_now().isoformat(timespec="seconds"),
                            "niah_version": __version__})
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / RESULTS_FILE, rows_text(rows))
    write_text(out / MANIFEST_FILE, manifest_text(merged))
    return MergeResult(out, len(rows), duplicates, per_input)
