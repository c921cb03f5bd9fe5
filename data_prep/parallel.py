"""Run independent pieces of a prep run (files, buckets) in worker processes.

The pieces share read-only state (the lake, settings, lookup arrays), sent once per worker by an initializer rather
than once per piece. With one worker, or a lake on ``memory://`` (which other processes cannot see), everything runs
in this process.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing.context import BaseContext
from typing import Any, TypeVar

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
    total = len(items)
    if workers <= 1 or total <= 1:
        _init(state)
        results = []
        for done, item in enumerate(items, 1):
            results.append(job(item))
            if on_done:
                on_done(done, total)
        return results
    out: list[Any] = [None] * total
    with ProcessPoolExecutor(
        max_workers=min(workers, total), mp_context=_context(job), initializer=_init, initargs=(state,)
    ) as pool:
        futures = {pool.submit(job, item): i for i, item in enumerate(items)}
        for done, future in enumerate(as_completed(futures), 1):
            out[futures[future]] = future.result()
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
