"""Lanes: one thread each, owning an open index and running jobs on it, first come, first served.

A SQLite connection belongs to the thread that opened it, and one llama.cpp model cannot run
two prompts at once, so the server does its index work in lanes rather than in whatever thread
a request arrives on: the answer lane runs one question at a time (retrieval, generation,
verification), the read lane searches and looks articles up meanwhile. A job whose client has
gone is skipped before it starts; a running one is stopped by its `cancelled` event (the
answering code checks it as each piece of text arrives).

Each lane keeps its index open between jobs. Another process's ingest is seen by the next job
without a restart: SQLite reads its last committed state, and the FAISS vectors are reloaded
when the store's generation moves on (qa/store/vectors/faiss.py). An index removed and made
again (its store file replaced) is reopened.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from qa.core.errors import NewsqaError
from qa.store.folder import DATABASE  # the store file: its identity tells a replaced index apart

if TYPE_CHECKING:
    from qa.store.index import Index

T = TypeVar("T")


class Cancelled(Exception):  # noqa: N818 (a state, not an error)
    """The client that asked for a job has gone."""


class Busy(NewsqaError):
    """More jobs are waiting than a lane will hold."""


class IndexUnavailable(NewsqaError):
    """The index cannot be opened (missing, damaged) or holds no articles."""


@dataclass
class _Job(Generic[T]):
    run: Callable[[Index], T]
    cancelled: threading.Event
    future: Future[T] = field(default_factory=Future)


class Lane:
    """A thread that runs jobs on its own open index, one at a time, in the order submitted."""

    def __init__(self, name: str, folder: Path,
                 opener: Callable[[contextlib.ExitStack], Index], *,
                 max_waiting: int = 64) -> None:
        self.name = name
        self.folder = folder
        self._opener = opener
        self._jobs: queue.Queue[_Job[Any] | None] = queue.Queue()
        self._max_waiting = max_waiting
        self._stack: contextlib.ExitStack | None = None
        self._index: Index | None = None
        self._identity: tuple[int, int] | None = None
        self._closing = False
        self._running: _Job[Any] | None = None
        self._thread = threading.Thread(target=self._work, name=f"lane-{name}", daemon=True)
        self._thread.start()

    def waiting(self) -> int:
        return self._jobs.qsize()

    def submit(self, run: Callable[[Index], T],
               cancelled: threading.Event | None = None) -> Future[T]:
        """Queue `run(index)`; its result (or error) arrives in the future returned."""
        if (waiting := self._jobs.qsize()) >= self._max_waiting:
            raise Busy(f"{waiting} request{' is' if waiting == 1 else 's are'} already "
                       "waiting", hint="try again in a moment")
        job: _Job[T] = _Job(run, cancelled or threading.Event())
        self._jobs.put(job)
        return job.future

    def call(self, run: Callable[[Index], T]) -> T:
        """Run `run(index)` in the lane and wait for its result."""
        return self.submit(run).result()

    def close(self) -> None:
        """Stop the job running and drop those waiting (their futures raise `Cancelled`),
        then close the index and end the thread."""
        self._closing = True
        running = self._running
        if running is not None:
            running.cancelled.set()
        self._jobs.put(None)
        self._thread.join(timeout=30)

    # --- in the lane's thread ----------------------------------------------------------------

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            if job.cancelled.is_set() or self._closing:
                job.future.set_exception(Cancelled())
                continue
            if not job.future.set_running_or_notify_cancel():
                continue
            self._running = job
            try:
                job.future.set_result(job.run(self._current()))
            except BaseException as exc:  # the caller's to report (a NewsqaError, a bug)
                job.future.set_exception(_known(exc))
            finally:
                self._running = None
        self._close_index()

    def _current(self) -> Index:
        """The open index, opened (again) if there was none or its store file was replaced."""
        identity = _identity(self.folder / DATABASE)
        if self._index is not None and identity == self._identity:
            return self._index
        self._close_index()
        stack = contextlib.ExitStack()
        try:
            index = self._opener(stack)
        except BaseException:
            stack.close()
            raise
        self._stack, self._index, self._identity = stack, index, identity
        return index

    def _close_index(self) -> None:
        if self._stack is not None:
            with contextlib.suppress(Exception):
                self._stack.close()
        self._stack, self._index, self._identity = None, None, None


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _known(exc: BaseException) -> BaseException:
    """A full disk, a damaged store and the like as the NewsqaError that says so."""
    from qa.core.errors import from_environment

    if isinstance(exc, NewsqaError | Cancelled):
        return exc
    known = from_environment(exc)
    return known if known is not None else exc
