"""Run independent pieces of a prep run (files, buckets) in worker processes.

The pieces share read-only state (the lake, settings, lookup arrays), sent once per worker by an initializer rather
than once per piece. With one worker, or a lake on ``memory://`` (which other processes cannot see), everything runs
in this process.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from multiprocessing.context import BaseContext
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_STATE: dict[str, Any] = {}


def worker_state() -> dict[str, Any]:
    """The shared state of the current worker (or of this process when running in-process)."""
    return _STATE


def _init(state: dict[str, Any]) -> None:
    _STATE.clear()
    _STATE.update(state)


def map_in_workers(
    job: Callable[[T], R],
    items: Sequence[T],
    workers: int,
    state: dict[str, Any],
    on_done: Callable[[int, int], None] | None = None,
) -> list[R]:
    """``[job(item) for item in items]``, spread over ``workers`` processes; results in the order of ``items``.

    Args:
        job: a module-level function (it is pickled by name); it reads shared state with :func:`worker_state`.
        items: the pieces.
        workers: processes to use; 1 or fewer runs in this process.
        state: read-only state every piece needs.
        on_done: called with (done, total) as pieces finish.

    Invariants:
        An exception in any piece is raised here after the pool shuts down; pieces already finished keep their
        outputs, which are written atomically, so a rerun redoes only what is missing.
    """
    with WorkerPool(job, min(workers, len(items)) if len(items) > 1 else 1, state) as pool:
        for item in items:
            pool.submit(item)
        return pool.results(on_done)


class WorkerPool(Generic[T, R]):
    """Worker processes that take pieces as they become known, e.g. each input file as soon as it is copied.

    Use as a context manager: :meth:`submit` each piece, then :meth:`results`. With one worker or fewer, each piece
    runs in this process when it is submitted.

    Args:
        job: a module-level function (it is pickled by name); it reads shared state with :func:`worker_state`.
        workers: processes to use.
        state: read-only state every piece needs, sent once per worker.
    """

    def __init__(self, job: Callable[[T], R], workers: int, state: dict[str, Any]) -> None:
        self.job, self.workers, self.state = job, workers, state
        self._pool: ProcessPoolExecutor | None = None
        self._futures: list[Future[R]] = []

    def __enter__(self) -> WorkerPool[T, R]:
        if self.workers > 1:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=_context(self.job),
                initializer=_init,
                initargs=(self.state,),
            )
        else:
            _init(self.state)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=exc[0] is not None)

    def submit(self, item: T) -> None:
        if self._pool is not None:
            self._futures.append(self._pool.submit(self.job, item))
            return
        done: Future[R] = Future()
        done.set_result(self.job(item))
        self._futures.append(done)

    def results(self, on_done: Callable[[int, int], None] | None = None) -> list[R]:
        """The result of every piece submitted, in the order submitted; raises the first failure met.

        Args:
            on_done: called with (done, total) as pieces finish.
        """
        total = len(self._futures)
        position = {id(f): i for i, f in enumerate(self._futures)}
        out: list[Any] = [None] * total
        for done, future in enumerate(as_completed(self._futures), 1):
            out[position[id(future)]] = future.result()
            if on_done:
                on_done(done, total)
        return out


def start_workers(job: Callable[..., Any]) -> None:
    """Start the fork server that :func:`map_in_workers` forks ``job``'s workers from, and return at once.

    The server imports the job's module while this process goes on with other work (copying inputs), so the first
    stage with workers does not wait for that import.
    """
    if _context(job).get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def _context(job: Callable[..., Any]) -> BaseContext:
    """How workers start: from a fork server where the platform has one, else spawned; never forked from here.

    A fork of this process could deadlock: it may hold Arrow's thread pools mid-task. The fork server is a fresh
    process that only imports the job's module (pandas, pyarrow, the project) and then forks each worker from that
    state, doing no work of its own: no Arrow thread pool runs there, and the two threads the imports start
    (jemalloc's background thread, OpenBLAS's pool) have fork handlers of their own. A worker so starts in
    milliseconds instead of importing everything again (about 1.5 s of CPU, per worker and per pool). Spawned
    workers (where there is no fork server) import it themselves.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([job.__module__])
    return context
