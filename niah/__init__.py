"""niah: needle-in-a-haystack tests for long-context language models.

Heavy modules (pandas, matplotlib, the runner) load on first use, so the CLI and
``import niah`` stay fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from niah._version import __version__
from niah.config import Experiment, load_experiment
from niah.errors import NiahError
from niah.plan import Trial, plan

if TYPE_CHECKING:
    from niah.analysis import load_results, summarize
    from niah.haystack.builder import PromptBuilder, build
    from niah.prompt import BuiltPrompt
    from niah.report import plot_comparison, plot_heatmap, plot_multi_needle
    from niah.runner import run

_LAZY = {
    "BuiltPrompt": "niah.prompt",
    "PromptBuilder": "niah.haystack.builder",
    "build": "niah.haystack.builder",
    "load_results": "niah.analysis",
    "plot_comparison": "niah.report",
    "plot_heatmap": "niah.report",
    "plot_multi_needle": "niah.report",
    "run": "niah.runner",
    "summarize": "niah.analysis",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'niah' has no attribute {name!r}")


__all__ = [
    "BuiltPrompt",
    "Experiment",
    "NiahError",
    "PromptBuilder",
    "Trial",
    "__version__",
    "build",
    "load_experiment",
    "load_results",
    "plan",
    "plot_comparison",
    "plot_heatmap",
    "plot_multi_needle",
    "run",
    "summarize",
]
