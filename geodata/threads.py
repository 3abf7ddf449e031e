"""Threads for the analysis' heavy numpy steps.

numpy releases the GIL in its gathers and arithmetic, LAPACK in its solves:
the terrain profiles of different sites, or the kriging of different
carriers, can run on the machine's cores at once from plain threads, with
no copies of the DEM or the tables as processes would need.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

# At most this many threads, fewer when the process may use fewer CPUs:
# each thread holds its own working arrays (a block of profiles, a block of
# kriging systems), so memory grows with the count.
MAX_THREADS = 4

_T = TypeVar("_T")
_R = TypeVar("_R")


def worker_count() -> int:
    """Threads to use: the CPUs this process may run on, at most :data:`MAX_THREADS`."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count() or 1
    return max(1, min(available, MAX_THREADS))


def map_in_order(
    func: Callable[[_T], _R], items: Sequence[_T], *, workers: int | None = None
) -> Iterator[_R]:
    """Map ``func`` over ``items`` on threads, yielding the results in the order of ``items``.

    ``map(func, items)`` on ``workers`` threads (:func:`worker_count` by default).

    At most ``2 × workers`` items are in flight, so finished results never
    pile up while the caller consumes them; with one worker (or one item)
    nothing is threaded.

    >>> list(map_in_order(lambda v: v * v, [1, 2, 3], workers=2))
    [1, 4, 9]
    """
    workers = worker_count() if workers is None else workers
    if workers <= 1 or len(items) <= 1:
        yield from map(func, items)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future[_R]] = deque()
        for item in items:
            pending.append(pool.submit(func, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
