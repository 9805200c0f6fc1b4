"""One registry of tasks: built-ins by name, third parties by the ``niah.tasks`` entry
point group. Modules load lazily, so a task's optional dependencies matter only when
it is used."""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from niah.errors import ConfigError
from niah.tasks.base import Task

ENTRY_POINT_GROUP = "niah.tasks"

_BUILTIN: dict[str, str] = {
    # "needle": "niah.tasks.needle:NeedleTask",  (wired by the task interface work)
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
