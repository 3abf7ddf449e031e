"""Answers kept in memory: a thread-safe LRU that computes each missing value once.

The plans (:mod:`app.services.planning`) and the survey plans
(:mod:`app.services.survey`) each cost an analysis of a commune; readers of
a key being computed wait for that one computation (single flight).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class Memo:
    """A thread-safe LRU that computes each missing value once (the others wait for it).

    Examples
    --------
    >>> memo = Memo(max_entries=2)
    >>> memo.get_or_compute(("a", 1), lambda: "plan a")
    'plan a'
    >>> memo.get_or_compute(("a", 1), lambda: "other"), memo.computed
    ('plan a', 1)
    """

    def __init__(self, max_entries: int) -> None:
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict[Hashable, threading.Lock] = {}
        self._max = max_entries
        #: How many values were computed (the rest were answered from memory).
        self.computed = 0

    def _cached(self, key: Hashable) -> Any:
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
            return None

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """Return the value of ``key``, computed (outside the memo's lock) when absent."""
        found = self._cached(key)
        if found is not None:
            return found
        with self._lock:
            computing = self._computing.setdefault(key, threading.Lock())
        with computing:  # one computation per key at a time
            found = self._cached(key)
            if found is None:
                try:
                    found = compute()
                    with self._lock:
                        self.computed += 1
                        self._values[key] = found
                        while len(self._values) > self._max:
                            self._values.popitem(last=False)
                finally:
                    with self._lock:
                        self._computing.pop(key, None)
        return found

    def __len__(self) -> int:
        return len(self._values)
