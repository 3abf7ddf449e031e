"""Threaded maps keep their order and their errors."""

from __future__ import annotations

import time

import pytest

from coverage.threads import map_in_order, worker_count


def test_results_come_in_the_order_of_the_items() -> None:
    def slow_first(value: int) -> int:
        time.sleep(0.02 if value == 0 else 0.0)
        return value * 10

    assert list(map_in_order(slow_first, list(range(9)), workers=3)) == [v * 10 for v in range(9)]
    assert worker_count() >= 1


def test_an_error_in_a_thread_reaches_the_caller() -> None:
    def fail_on_two(value: int) -> int:
        if value == 2:
            raise ValueError("two")
        return value

    with pytest.raises(ValueError, match="two"):
        list(map_in_order(fail_on_two, [0, 1, 2, 3], workers=2))
