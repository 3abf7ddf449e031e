"""The accounting of refused rows that every upload and import answer carries.

An answer lists the first :data:`MAX_LISTED_REJECTIONS` refused rows (by
index) and counts all of them, in total and by ``field: reason``. Readings
uploads (:class:`app.services.ingest.IngestReport`) and admin imports
(:class:`app.services.imports.AdminReport`) both keep one
:class:`RejectionTally`, so their answers agree field for field.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from geodata.readings import Rejection

#: Rejections listed one by one in an answer; the rest are only counted.
MAX_LISTED_REJECTIONS = 1000


@dataclass
class RejectionTally:
    """Refused rows: the first few listed, all of them counted.

    Examples
    --------
    >>> tally = RejectionTally.of([Rejection(3, "lat", "out of range")])
    >>> tally.as_dict()["rejected_by_reason"]
    {'lat: out of range': 1}
    """

    listed: list[Rejection] = field(default_factory=list)
    total: int = 0
    by_reason: Counter[str] = field(default_factory=Counter)

    @classmethod
    def of(cls, rejections: Iterable[Rejection]) -> RejectionTally:
        """Return a tally of ``rejections``."""
        tally = cls()
        tally.add(rejections)
        return tally

    def add(self, rejections: Iterable[Rejection]) -> None:
        """Count rejections, listing them (in index order) while there is room."""
        ordered = sorted(rejections, key=lambda r: r.index)
        room = MAX_LISTED_REJECTIONS - len(self.listed)
        self.listed += ordered[: max(room, 0)]
        self.total += len(ordered)
        self.by_reason.update(f"{r.field}: {r.reason}" for r in ordered)

    def as_dict(self) -> dict[str, Any]:
        """``rejected`` (listed, by index), ``rejected_total`` and ``rejected_by_reason``."""
        return {
            "rejected": [r.as_dict() for r in sorted(self.listed, key=lambda r: r.index)],
            "rejected_total": self.total,
            "rejected_by_reason": dict(self.by_reason),
        }
