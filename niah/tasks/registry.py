"""One registry of tasks: built-ins by name, third parties by the ``niah.tasks`` entry
point group. Modules load lazily, so a task's optional dependencies matter only when
it is used."""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from pydantic import ValidationError

from niah.config import Experiment, ModelSpec, TaskSpec, config_error
from niah.errors import ConfigError
from niah.prompt import Builder
from niah.tasks.base import Task

ENTRY_POINT_GROUP = "niah.tasks"

_BUILTIN: dict[str, str] = {
    "needle": "niah.tasks.needle:NeedleTask",
    **{f"ruler/{n}": f"niah.tasks.ruler.niah_family:{n.title().replace('_', '')}" for n in (
        "niah_single_1", "niah_single_2", "niah_single_3", "niah_multikey_1",
        "niah_multikey_2", "niah_multikey_3", "niah_multivalue", "niah_multiquery")},
    "ruler/vt": "niah.tasks.ruler.vt:VariableTracking",
    "ruler/cwe": "niah.tasks.ruler.words:CommonWords",
    "ruler/fwe": "niah.tasks.ruler.words:FrequentWords",
    "ruler/qa_1": "niah.tasks.ruler.qa:Qa1",
    "ruler/qa_2": "niah.tasks.ruler.qa:Qa2",
}
_loaded: dict[str, Task] = {}


def task_names() -> list[str]:
    """Every known task name (built-in and entry points)."""
    return sorted(set(_BUILTIN) | {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def get_task(name: str) -> Task:
    """The task registered as ``name``, or a ``task.name`` error listing the known ones."""
    if name in _loaded:
        return _loaded[name]
    target: Any = None
    if name in _BUILTIN:
        module, _, attr = _BUILTIN[name].partition(":")
        target = getattr(import_module(module), attr)
    else:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name == name:
                target = ep.load()
                break
    if target is None:
        raise ConfigError("task.name", f"unknown task {name!r}; known: "
                                       f"{', '.join(task_names()) or 'none'}")
    task: Task = target() if isinstance(target, type) else target
    _loaded[name] = task
    return task


def task_options(spec: TaskSpec) -> tuple[Task, Any]:
    """An experiment's task and its options, validated by the task's ``options_model``
    (errors name ``task.options.KEY``)."""
    task = get_task(spec.name)
    given = spec.options
    if task.options_model is None:
        if given:
            raise ConfigError(f"task.options.{next(iter(given))}",
                              f"task {task.name!r} takes no options")
        return task, None
    try:
        return task, task.options_model.model_validate(given)
    except ValidationError as exc:
        raise config_error(exc, prefix="task.options.", model=task.options_model) from None


def check_task(experiment: Experiment) -> tuple[Task, Any]:
    """``task_options`` and the task's own check: what ``plan``, ``build`` and ``run``
    refuse before any work."""
    task, options = task_options(experiment.task)
    if experiment.media is not None and task.name != "needle":
        raise ConfigError("task.name", f"a {experiment.media.kind} haystack holds one needle "
                                       f"per trial: use task needle, not {task.name!r}")
    task.check(experiment, options)
    return task, options


def task_builder(experiment: Experiment, model: ModelSpec) -> Builder:
    """The prompt builder of the experiment's task for ``model``."""
    task, options = task_options(experiment.task)
    return task.builder(experiment, model, options)
