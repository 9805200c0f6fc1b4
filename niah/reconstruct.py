"""Rebuild the exact prompt of a stored trial from its run's manifest, and prove it.

A prompt is determined by (config, trial): the manifest keeps the config, the row
keeps the trial id and the prompt's sha256, so any cell can be audited later without
the original config file. The rebuilt prompt's digest must equal the stored one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from niah.config import Experiment, config_error
from niah.errors import NiahError, ResultsError, UserError
from niah.plan import plan
from niah.prompt import BuiltPrompt
from niah.results import Manifest, ResultRow, read_manifest, read_rows


class PromptMismatch(NiahError):
    """A rebuilt prompt differs from the one the run sent (its inputs changed since)."""


@dataclass(frozen=True)
class Rebuilt:
    row: ResultRow
    prompt: BuiltPrompt

    @property
    def matches(self) -> bool:
        return self.prompt.prompt_sha256 == self.row.prompt_sha256


def stored_experiment(run_dir: Path) -> Experiment:
    """The experiment a run was made with, from its manifest."""
    manifest = read_manifest(run_dir)
    if manifest is None:
        raise UserError(f"{run_dir}: no manifest.json (not a niah run directory)")
    if manifest.imported_from is not None:
        raise UserError(f"{run_dir}: an imported run keeps no prompts to rebuild")
    return manifest_experiment(manifest, run_dir)


def manifest_experiment(manifest: Manifest, run_dir: Path) -> Experiment:
    """The ``Experiment`` of a manifest's config, paths resolved as when it ran."""
    data = dict(manifest.config)
    data["base_dir"] = manifest.config_dir or "."
    try:
        return Experiment.model_validate(data)
    except ValidationError as exc:
        raise ResultsError(f"{run_dir}/manifest.json: config: {config_error(exc)}") from None


def select_row(rows: list[ResultRow], trial: str, model: str | None) -> ResultRow:
    """The row of ``trial`` (an id or a unique prefix of one), for ``model`` if given."""
    hits = [r for r in rows if r.trial_id.startswith(trial) and model in (None, r.model)]
    if not hits:
        raise UserError(f"TRIAL {trial!r}: no such trial" + (f" for {model}" if model else ""))
    if len({(r.trial_id, r.model) for r in hits}) > 1:
        choices = sorted({f"{r.trial_id} ({r.model})" for r in hits})[:5]
        raise UserError(f"TRIAL {trial!r} is ambiguous: {', '.join(choices)}; give more of the "
                        "id or --model")
    return hits[-1]


def rebuild(run_dir: Path, trial: str, model: str | None = None) -> Rebuilt:
    """The stored row of ``trial`` and its prompt, rebuilt byte for byte."""
    from niah.tasks.registry import task_builder

    row = select_row(read_rows(run_dir), trial, model)
    experiment = stored_experiment(run_dir)
    trials = {t.trial_id: t for t in plan(experiment)}
    if row.trial_id not in trials:
        raise ResultsError(f"{run_dir}: trial {row.trial_id} is not in the stored config's plan")
    spec = next(m for m in experiment.model if m.id == row.model)
    prompt = task_builder(experiment, spec).build(trials[row.trial_id])
    return Rebuilt(row, prompt)
