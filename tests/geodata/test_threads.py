"""Threaded maps keep their order and their errors."""

from __future__ import annotations

import threading

import pytest

from geodata.threads import map_in_order, worker_count

WAIT_S = 5.0


def test_results_come_in_the_order_of_the_items_though_they_finish_in_reverse() -> None:
    # In each group of three, an item waits until the next one has finished,
    # so the threads finish 2, 1, 0, then 5, 4, 3: a map that yields results
    # as they finish (or runs the items one by one) fails here.
    items = list(range(6))
    done = {item: threading.Event() for item in items}
    finished: list[int] = []
    lock = threading.Lock()

    def reverse(value: int) -> int:
        if value % 3 != 2 and not done[value + 1].wait(WAIT_S):
            raise TimeoutError(f"item {value + 1} never finished before item {value}")
        with lock:
            finished.append(value)
        done[value].set()
        return value * 10

    assert list(map_in_order(reverse, items, workers=3)) == [v * 10 for v in items]
    assert finished == [2, 1, 0, 5, 4, 3]


def test_worker_count_is_between_one_and_the_cap() -> None:
    from geodata.threads import MAX_THREADS

    assert 1 <= worker_count() <= MAX_THREADS


def test_an_error_in_a_thread_reaches_the_caller() -> None:
    def fail_on_two(value: int) -> int:
        if value == 2:
            raise ValueError("two")
        return value

    with pytest.raises(ValueError, match="two"):
        list(map_in_order(fail_on_two, [0, 1, 2, 3], workers=2))
