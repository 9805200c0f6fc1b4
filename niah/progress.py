"""Progress of a run: a protocol the runner calls, and a ``rich`` bar on stderr.

The runner only reports events; how they are shown is the caller's choice (the CLI
draws a live bar, the Python API shows nothing unless asked).
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Column

from niah.fmt import money, tokens
from niah.results import ResultRow


class ProgressSink(Protocol):
    """What the runner tells about a run as it goes."""

    def start(self, model: str, total: int, done: int, *, work_total: int = 0,
              work_done: int = 0) -> None:
        """``model`` has ``total`` trials, ``done`` of them stored by an earlier session;
        ``work_*`` weigh them (context tokens), since a 128K trial costs 100x a 1K one."""

    def advance(self, model: str, row: ResultRow) -> None:
        """One trial of ``model`` finished (scored, failed or from the cache)."""


class NullProgress:
    def start(self, model: str, total: int, done: int, *, work_total: int = 0,
              work_done: int = 0) -> None:
        pass

    def advance(self, model: str, row: ResultRow) -> None:
        pass


class _Tally:
    def __init__(self) -> None:
        self.errors = 0
        self.tokens = 0
        self.cost: float | None = 0.0
        self.cached = 0
        self.total = 0
        self.done = 0
        self.weighted = True


class RichProgress:
    """One live bar per model: done/total, ETA, errors, tokens sent and money spent.

    Cached answers count as done but add no tokens or cost: nothing was sent.
    """

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        fixed = Column(no_wrap=True)
        self._bar = Progress(
            TextColumn("{task.description}", markup=False,  # a model id is not markup
                       table_column=Column(overflow="ellipsis", no_wrap=True, ratio=1)),
            BarColumn(bar_width=20),
            TextColumn("{task.fields[trials]}", table_column=fixed),
            TextColumn("{task.fields[errors]} err", table_column=fixed),
            TextColumn("{task.fields[tokens]} tok", table_column=fixed),
            TextColumn("{task.fields[cost]}", table_column=fixed),
            TextColumn("eta", table_column=fixed),
            TimeRemainingColumn(),
            console=self.console,
        )
        self._tasks: dict[str, TaskID] = {}
        self._tallies: dict[str, _Tally] = {}

    def __enter__(self) -> RichProgress:
        return self  # the bar starts with the first model: an early error prints no empty bar

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._tasks:
            self._bar.stop()

    def start(self, model: str, total: int, done: int, *, work_total: int = 0,
              work_done: int = 0) -> None:
        """The bar (and so its ETA) advances by context tokens, not trials: trials of
        one grid differ 100x in cost, so counting them made the ETA jump."""
        if not self._tasks:
            self._bar.start()
        tally = self._tallies[model] = _Tally()
        tally.total, tally.done, tally.weighted = total, done, work_total > 0
        self._tasks[model] = self._bar.add_task(
            model, total=work_total or total, completed=work_done if work_total else done,
            errors=0, tokens="0", cost=money(0.0), trials=f"{done}/{total}",
        )

    def advance(self, model: str, row: ResultRow) -> None:
        tally = self._tallies[model]
        tally.errors += row.error is not None
        if row.cached:
            tally.cached += 1
        else:
            tally.tokens += row.prompt_tokens + (row.usage.completion_tokens or 0)
            if row.error is None:
                tally.cost = (
                    None if tally.cost is None or row.cost_usd is None
                    else tally.cost + row.cost_usd
                )
        tally.done += 1
        self._bar.update(
            self._tasks[model], advance=row.context_length if tally.weighted else 1,
            trials=f"{tally.done}/{tally.total}", errors=tally.errors,
            tokens=tokens(tally.tokens, approx=True), cost=money(tally.cost),
        )
