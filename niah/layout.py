"""Where runs live: ``results/<name>/<UTC time>/``, a ``latest`` link, never a run in a run.

    results/quickstart/                  the experiment folder (``niah report`` takes it)
        20250101T120000Z/                one run: manifest.json, results.jsonl, report/
        20250102T090000Z/                a later run (``--fresh``, or a changed config)
        latest -> 20250102T090000Z       the newest run, moved by each new run

A plain ``niah run`` resumes the newest run when its prompts match, else starts a
new one; ``--out DIR`` names the run directory itself. A run directory is one that
holds ``manifest.json``; none is ever created inside another.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from datetime import datetime, timezone
from pathlib import Path

from niah.config import Experiment
from niah.errors import UserError
from niah.plan import experiment_fingerprint
from niah.results import MANIFEST_FILE, Manifest, read_manifest

log = logging.getLogger("niah")
RESULTS_ROOT = Path("results")
LATEST = "latest"
"""Symlink in an experiment folder to its newest run."""
_STAMP = re.compile(r"\d{8}T\d{6}Z(-\d+)?")
"""Names of runs in an experiment folder: their UTC start time."""


def _peek_manifest(run_dir: Path) -> Manifest | None:
    """A run's manifest when readable (a damaged one just means: not this experiment)."""
    try:
        return read_manifest(run_dir)
    except UserError:
        return None


def is_run(path: Path) -> bool:
    """A run directory is one that holds a manifest."""
    return (path / MANIFEST_FILE).is_file()


def runs_in(folder: Path) -> list[Path]:
    """The run directories directly inside an experiment folder, newest first.

    The ``latest`` symlink is not a run of its own (it would be counted twice).
    """
    try:
        children = list(folder.iterdir())
    except OSError:
        return []
    runs = [p for p in children if not p.is_symlink() and is_run(p)]
    return sorted(runs, key=_run_order, reverse=True)


def find_run(path: str | Path) -> Path:
    """``path`` itself when it is a run; for an experiment folder (``results/<name>``),
    its newest run; otherwise ``path`` unchanged, for the reader to say what is wrong."""
    path = Path(path).expanduser()
    if is_run(path):
        return path
    runs = runs_in(path)
    return runs[0] if runs else path


def resolve_run_dir(experiment: Experiment, out: str | Path | None, fresh: bool,
                    root: Path = RESULTS_ROOT, shard: dict[str, int] | None = None) -> Path:
    """``--out`` as given, else the latest run of this experiment under ``root`` when its
    fingerprint matches (resume), else a new ``root/<name>/<UTC timestamp>``.

    A run never goes inside another run: a ``results/<name>`` that is itself a run
    (made with ``--out``) is resumed when it matches, and refused otherwise.
    """
    if out is not None:
        return _checked_out(Path(out).expanduser())
    parent = root / experiment.name
    fingerprint = experiment_fingerprint(experiment)
    if is_run(parent):
        manifest = _peek_manifest(parent)
        if not fresh and manifest and manifest.fingerprint == fingerprint:
            return parent
        other = "" if fresh else " of another version of this experiment"
        raise UserError(f"{parent}: is itself a run{other} (made with --out), and a new run "
                        f"cannot go inside a run; pass --out DIR, or move {parent} away")
    _not_inside_a_run(parent, str(parent))
    if not fresh:  # the newest run of the same shard (or of no shard) is resumed
        for run in runs_in(parent):
            manifest = _peek_manifest(run)
            if manifest and manifest.shard == shard:
                if manifest.fingerprint == fingerprint:
                    return run
                break
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    candidate, n = parent / stamp, 1
    while candidate.exists():
        candidate, n = parent / f"{stamp}-{n}", n + 1
    return candidate


def _checked_out(out: Path) -> Path:
    """``--out``: a run directory (new or to resume), never inside a run or above runs."""
    _not_inside_a_run(out.parent, f"--out {out}")
    if not is_run(out):
        runs = runs_in(out)
        if runs:
            raise UserError(f"--out {out}: holds runs ({runs[0].name} is the newest); pass "
                            "one of them to resume it, or a new directory")
    return out


def _not_inside_a_run(folder: Path, what: str) -> None:
    folder = folder.absolute()
    for above in (folder, *folder.parents):
        if is_run(above):
            raise UserError(f"{what}: is inside the run directory {above}; "
                            "choose a directory outside it")


def _run_order(path: Path) -> tuple[str, int]:
    """``<stamp>`` before ``<stamp>-1`` before ``<stamp>-10`` (two runs in one second)."""
    stamp, _, n = path.name.partition("-")
    return stamp, int(n) if n.isdigit() else 0


def point_latest(run_dir: Path) -> None:
    """Point ``results/<name>/latest`` at the newest run there, after ``run_dir`` opened.

    Newest by start time (the stamp in the name), as ``find_run`` and a plain ``niah
    run`` choose: resuming an older run by name does not move it. Replaced atomically
    (a new link renamed over the old); where links cannot be made (some Windows
    setups) the folder still resolves by name.
    """
    folder = run_dir.parent
    if not _STAMP.fullmatch(run_dir.name) or is_run(folder):
        return
    runs = runs_in(folder)
    link = folder / LATEST
    if not runs or (link.is_symlink() and os.readlink(link) == runs[0].name):
        return
    if link.exists() and not link.is_symlink():
        log.warning("%s: not a symlink, left as it is", link)
        return
    tmp = folder / f".{LATEST}.{os.getpid()}.tmp"
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(runs[0].name, target_is_directory=True)
        os.replace(tmp, link)
    except OSError as exc:
        log.debug("%s: cannot point it at %s (%s)", link, runs[0].name, exc)
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
