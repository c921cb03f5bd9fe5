"""Run independent pieces of a prep run (files, buckets) in worker processes.

The pieces share read-only state (the lake, settings, small tables), sent once per worker by an initializer rather
than once per piece. With one worker, or a lake on ``memory://`` (which other processes cannot see), everything runs
in this process.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_STATE: dict[str, Any] = {}


def worker_state() -> dict[str, Any]:
    """The shared state of the current worker (or of this process when running in-process)."""
    return _STATE


def _init(state: dict[str, Any], setup: Callable[[dict[str, Any]], None] | None) -> None:
    _STATE.clear()
    _STATE.update(state)
    if setup is not None:
        setup(_STATE)


def map_in_workers(
    job: Callable[[T], R],
    items: Sequence[T],
    workers: int,
    state: dict[str, Any],
    setup: Callable[[dict[str, Any]], None] | None = None,
    on_done: Callable[[int, int], None] | None = None,
) -> list[R]:
    """``[job(item) for item in items]``, spread over ``workers`` processes; results in the order of ``items``.

    Args:
        job: a module-level function (it is pickled by name); it reads shared state with :func:`worker_state`.
        items: the pieces.
        workers: processes to use; 1 or fewer runs in this process.
        state: read-only state every piece needs.
        setup: run once per worker on its state, to build derived state (lookup arrays) where it is used.
        on_done: called with (done, total) as pieces finish.

    Invariants:
        An exception in any piece is raised here after the pool shuts down; pieces already finished keep their
        outputs, which are written atomically, so a rerun redoes only what is missing.
    """
    total = len(items)
    if workers <= 1 or total <= 1:
        _init(state, setup)
        results = []
        for done, item in enumerate(items, 1):
            results.append(job(item))
            if on_done:
                on_done(done, total)
        return results
    # spawn, not fork: forking a process that holds Arrow's thread pools can deadlock.
    context = multiprocessing.get_context("spawn")
    out: list[Any] = [None] * total
    with ProcessPoolExecutor(
        max_workers=min(workers, total), mp_context=context, initializer=_init, initargs=(state, setup)
    ) as pool:
        futures = {pool.submit(job, item): i for i, item in enumerate(items)}
        for done, future in enumerate(as_completed(futures), 1):
            out[futures[future]] = future.result()
            if on_done:
                on_done(done, total)
    return out
