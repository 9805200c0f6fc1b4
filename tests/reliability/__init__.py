"""Reliability and security tests: faults, crashes, full or read-only disks, secrets,
hostile model output and locking, each end to end through the runner or the CLI.

Helpers shared by the files of this folder live here (small on purpose); the CLI tests
start their ``niah`` children with ``start_niah`` too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

NEEDLE = {"text": "The special magic number is {value}.",
          "question": "What is the special magic number?"}


def experiment_data(model: Any, *, lengths: list[int] | None = None,
                    depths: list[float] | None = None, repeats: int = 1,
                    name: str = "reliability", **run: Any) -> dict[str, Any]:
    """A tiny experiment: cl100k tokenizer (offline, fast), one numeric needle."""
    return {
        "name": name,
        "model": model,
        "tokenizer": "tiktoken:cl100k_base",
        "needles": [NEEDLE],
        "grid": {"context_lengths": lengths or [100, 200],
                 "depth_percents": depths if depths is not None else [0, 50, 100],
                 "repeats": repeats},
        "run": run,
    }


def write_config(folder: Path, model: Any, **kwargs: Any) -> Path:
    path = folder / "exp.yaml"
    path.write_text(yaml.safe_dump(experiment_data(model, **kwargs)), encoding="utf-8")
    return path


def niah_env(cache: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``python -m niah`` child: its own cache, no debug tracebacks."""
    env = {k: v for k, v in os.environ.items() if k != "NIAH_DEBUG"}
    return {**env, "NIAH_CACHE_DIR": str(cache), "COLUMNS": "160", **extra}


def default_signals() -> None:
    """preexec_fn: SIGINT and SIGTERM as a terminal's foreground command gets them.

    A child inherits ignored signals across exec. Under ``nohup``, ``cmd &`` in a
    script or some CI runners SIGINT is ignored, and a Python started that way
    installs no KeyboardInterrupt handler: a test's Ctrl-C would do nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def start_niah(args: list[str], env: dict[str, str],
               preexec: Callable[[], None] | None = None, *,
               command: list[str] | None = None) -> subprocess.Popen[str]:
    """``python -m niah ARGS`` (or ``command`` + ARGS), its signals as in a terminal."""

    def setup() -> None:
        default_signals()
        if preexec is not None:
            preexec()

    return subprocess.Popen(
        [*(command or [sys.executable, "-m", "niah"]), *args], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=env, preexec_fn=setup,
    )


def ctrl_c(proc: subprocess.Popen[str], timeout_s: float = 120.0) -> str:
    """Interrupt ``proc`` as Ctrl-C would; its stderr once it has exited. A child that
    ignores it is killed, and the test fails, rather than left running."""
    proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=timeout_s)[1]
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError(f"still running {timeout_s:.0f} s after Ctrl-C") from None


def count_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())
