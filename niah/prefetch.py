"""Prompts built ahead in a child process, on a core the event loop does not use.

Against a fast server the client's own CPU bounds a run, and building a prompt (an
exact token count, needles placed) costs about a third of what httpx spends sending
it. So for remote backends with enough trials a child process builds the prompts,
in the runner's order and a few ahead, while the event loop only sends and stores.
If the child dies, the loop builds the rest itself: the feed never waits on a child
that cannot deliver, and no trial is handed out twice.

The child is forked after the preflight, so it starts in milliseconds with the
builder already warm (tokenizer, corpus), where a fresh interpreter would spend most
of a second on imports and loading. It only builds (numpy, tiktoken, pickling)
and touches nothing the parent's other threads might hold. It ignores Ctrl-C (the
parent stops it) and exits when its pipe closes, so it never outlives the run.
Forking is safe on Linux; ``auto`` uses it only there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import pickle
import select
import signal
import socket
import sys
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, Literal

from niah.errors import HaystackError
from niah.plan import Trial

if TYPE_CHECKING:
    from niah.prompt import Builder, BuiltPrompt

log = logging.getLogger(__name__)

AUTO_MIN_TRIALS = 100
"""Below this a run is too short to gain from a second process."""
STOP_WAIT_S = 5.0
SOCKET_BUFFER = 4 << 20
CHILD_NICE = 10
YIELD_EVERY = 16


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))  # what this process may use (containers)
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def wants_process(
    setting: Literal["auto", "process", "inline"], remote: bool, pending: int
) -> bool:
    """Whether to build in a child: always/never as set; ``auto`` when the model runs
    elsewhere, a spare core exists and the run is long enough to profit (Linux)."""
    if setting != "auto":
        return setting == "process" and "fork" in multiprocessing.get_all_start_methods()
    return (remote and sys.platform.startswith("linux") and usable_cpus() >= 2
            and pending >= AUTO_MIN_TRIALS)


@dataclass
class _Failed:
    """A build error from the child, raised where the prompt is taken."""

    error: BaseException


class BuildProcess:
    """A forked child that builds ``trials`` in order, as far as it is allowed.

    The child inherits the warm builder and the trial list, so the pipe carries only
    a high-water mark one way and the prompts, in order, the other.
    """

    def __init__(self, builder: Builder, trials: Sequence[Trial]) -> None:
        context = multiprocessing.get_context("fork")
        ours, theirs = socket.socketpair()
        for sock in (ours, theirs):  # room for the prompts built ahead, unread
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
        self.conn, child_end = Connection(ours.detach()), Connection(theirs.detach())
        self.proc = context.Process(
            target=_child, args=(builder, trials, child_end, self.conn), name="niah-build",
            daemon=True,
        )
        try:
            self.proc.start()
        finally:
            child_end.close()
        self.alive = True

    def allow(self, upto: int) -> None:
        """Let the child build every trial before index ``upto``."""
        self.conn.send(upto)

    async def stop(self) -> None:
        """Close the pipe (the child exits), reap it, kill it if it hangs."""
        self.alive = False
        if self.conn.closed:
            return
        self.conn.close()
        await asyncio.to_thread(self.proc.join, STOP_WAIT_S)
        if self.proc.exitcode is None:
            self.proc.kill()
            await asyncio.to_thread(self.proc.join)


class PromptFeed:
    """Hands out each trial once with its prompt, in order.

    With ``build_ahead`` a forked child builds up to ``ahead`` prompts ahead of the
    workers; if it dies, the caller's builder builds from the first prompt it did not
    deliver. Without, each prompt is built here as it is taken.
    """

    def __init__(
        self, builder: Builder, trials: Sequence[Trial], build_ahead: bool = False,
        ahead: int = 16,
    ) -> None:
        self.builder = builder
        self.trials = list(trials)
        self.ahead = max(1, ahead)
        self.built_by_child = 0
        self._next = 0  # the next trial to hand out
        self._ready: deque[BuiltPrompt | _Failed] = deque()  # from the child, in order
        self._allowed = 0
        self._wake = asyncio.Event()
        self.process: BuildProcess | None = None
        if build_ahead and self.trials:
            self.process = BuildProcess(builder, self.trials)
            asyncio.get_running_loop().add_reader(self.process.conn.fileno(), self._on_answer)
            self._allow()

    async def next(self) -> tuple[Trial, BuiltPrompt] | None:
        """The next trial and its prompt, or None when every trial was handed out."""
        if self._ready:  # from the child, in order
            result = self._ready.popleft()
            self._next += 1
            self._allow()
            if isinstance(result, _Failed):
                raise result.error
            self.built_by_child += 1
            return self.trials[self._next - 1], result
        if self._next >= len(self.trials):
            return None
        process = self.process
        if process is not None and process.alive:
            self._wake.clear()
            await self._wake.wait()
            return await self.next()
        trial = self.trials[self._next]
        self._next += 1
        built = self.builder.build(trial)
        if self._next % YIELD_EVERY == 0:
            # a backend that answers without suspending (scripted) would otherwise run
            # a whole grid deaf to Ctrl-C; not every time: a suspension between two
            # requests costs httpx's pool more than building the prompt
            await asyncio.sleep(0)
        return trial, built

    def _allow(self) -> None:
        """Keep the child ``ahead`` prompts ahead, raising the mark in batches."""
        process = self.process
        if process is None or not process.alive:
            return
        target = min(len(self.trials), self._next + self.ahead)
        if target > self._allowed and (
            target - self._allowed >= max(1, self.ahead // 2) or target == len(self.trials)
        ):
            try:
                process.allow(target)
            except OSError:
                self._lost("its pipe broke")
                return
            self._allowed = target

    def _on_answer(self) -> None:
        process = self.process
        assert process is not None
        fd = process.conn.fileno()
        try:
            self._ready.append(process.conn.recv())
            while select.select([fd], [], [], 0)[0]:  # take every prompt waiting
                self._ready.append(process.conn.recv())
        except Exception as exc:  # EOF, a broken pipe, an answer that will not unpickle
            self._lost(f"it exited ({type(exc).__name__}, code {process.proc.exitcode})")
        self._wake.set()

    def _lost(self, why: str) -> None:
        """The child is gone: what it did not deliver is built here."""
        process = self.process
        assert process is not None
        if process.alive:
            log.warning("prompt build process stopped, %s; building prompts in this "
                        "process", why)
            asyncio.get_running_loop().remove_reader(process.conn.fileno())
        process.alive = False

    async def aclose(self) -> None:
        """Stop and reap the child, if there is one."""
        process = self.process
        if process is not None:
            if process.alive:
                asyncio.get_running_loop().remove_reader(process.conn.fileno())
            await process.stop()


def _portable(error: BaseException) -> BaseException:
    """The error itself when it survives pickling, else its message as a HaystackError."""
    try:
        copy: BaseException = pickle.loads(pickle.dumps(error))
    except Exception:
        return HaystackError(f"{type(error).__name__}: {error}")
    return copy


def _child(
    builder: Builder, trials: Sequence[Trial], conn: Connection, parent_end: Connection
) -> None:
    """The child's loop: build in order up to the allowed mark, until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    with contextlib.suppress(ValueError):  # ValueError: the parent set none
        signal.set_wakeup_fd(-1)  # the parent's event loop listens there, not us
    parent_end.close()
    with contextlib.suppress(OSError):  # background work: sharing a core, the loop wins
        os.nice(CHILD_NICE)
    built = 0
    while True:
        try:
            allowed = conn.recv()
            while conn.poll():  # only the latest mark matters
                allowed = conn.recv()
        except (EOFError, OSError):
            return
        while built < allowed:
            result: Any
            try:
                result = builder.build(trials[built])
            except Exception as exc:
                result = _Failed(_portable(exc))
            try:
                conn.send(result)
            except OSError:  # the parent closed the pipe
                return
            built += 1
