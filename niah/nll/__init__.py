"""NLL by position: how much a model gains from long context, without any needle.

The Gemini 1.5 report plots the cumulative average negative log-likelihood of each
token against its position in long documents and code, with a power law
``L(x) = alpha * x^-beta + gamma`` fitted to it. ``niah nll CONFIG`` measures it for
any model that exposes prompt log-probabilities; ``niah report`` draws it.

    from niah.nll import load_nll_config, run_nll, build_nll_report
    run = run_nll(load_nll_config("configs/nll-quickstart.yaml"))
    build_nll_report([run.run_dir])

Heavy modules (the model, scipy, matplotlib) load on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from niah.nll.config import NllConfig, load_nll_config

if TYPE_CHECKING:
    from niah.nll.curve import Series, load_series
    from niah.nll.fit import PowerLawFit, fit_power_law, power_law
    from niah.nll.report import NllReport, build_nll_report
    from niah.nll.runner import NllPlan, NllRun, plan_nll, run_nll
    from niah.nll.source import LogprobSource, open_source

_LAZY = {
    "LogprobSource": "niah.nll.source",
    "NllPlan": "niah.nll.runner",
    "NllReport": "niah.nll.report",
    "NllRun": "niah.nll.runner",
    "PowerLawFit": "niah.nll.fit",
    "Series": "niah.nll.curve",
    "build_nll_report": "niah.nll.report",
    "fit_power_law": "niah.nll.fit",
    "load_series": "niah.nll.curve",
    "open_source": "niah.nll.source",
    "plan_nll": "niah.nll.runner",
    "power_law": "niah.nll.fit",
    "run_nll": "niah.nll.runner",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'niah.nll' has no attribute {name!r}")


__all__ = [
    "LogprobSource",
    "NllConfig",
    "NllPlan",
    "NllReport",
    "NllRun",
    "PowerLawFit",
    "Series",
    "build_nll_report",
    "fit_power_law",
    "load_nll_config",
    "load_series",
    "open_source",
    "plan_nll",
    "power_law",
    "run_nll",
]
