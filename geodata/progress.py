"""Progress on long work: a bar on a terminal, silence in a file or a log, a summary at the end.

One helper for every long command (``lomsong ingest``, ``analyze``,
``evaluate``, ``region load``) and for library code that wants to report
steps. :func:`progress` opens a :class:`Progress`; each :meth:`Progress.step`
is one line of the bar (with a total: a bar and a rate; without: a spinner
and the time). The bar is drawn with rich on standard error, and only when
standard error is a terminal: redirected to a file, piped to ``tee`` or run
by systemd, nothing is drawn and nothing but the summary line is written.
The summary (what was done, in how long) is printed on standard output in
every case, once, when the work ends.

Reading a file is followed by its bytes: :func:`tracked_file` wraps a binary
file so that the step advances as the parsers read it, on whichever thread
they run.

Examples
--------
>>> with progress("demo", enabled=False) as work:
...     with work.step("counting", total=3) as advance:
...         for _ in range(3):
...             advance(1)
...     work.summary = "3 counted"
demo: 3 counted (0.0 s)
"""

from __future__ import annotations

import contextlib
import io
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as _RichProgress

from geodata.errors import InvalidInputError

#: Advances a step by an amount (rows, bytes, items).
Advance = Callable[[float], None]


class Progress:
    """Steps of one long piece of work, drawn while it runs (see :func:`progress`).

    ``summary`` is the text of the final line (``"<label>: <summary> (<s> s)"``).
    """

    def __init__(self, label: str, bar: _RichProgress | None) -> None:
        self.label = label
        self.summary = "done"
        self._bar = bar
        self._start = time.perf_counter()
        if bar is not None:
            bar.start()

    def finish(self) -> None:
        """Stop drawing (the bar disappears), so that the caller can print its report."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    @property
    def drawing(self) -> bool:
        """Whether a bar is drawn (standard error is a terminal)."""
        return self._bar is not None

    @contextlib.contextmanager
    def step(self, description: str, *, total: float | None = None) -> Iterator[Advance]:
        """One step; yields ``advance(amount)``. The step shows complete when it ends."""
        bar = self._bar
        if bar is None:
            yield _ignore
            return
        task = bar.add_task(description, total=total)
        try:
            yield lambda amount: bar.advance(task, amount)
        finally:
            bar.update(task, total=total or 1, completed=total or 1)

    @contextlib.contextmanager
    def file_step(self, description: str, path: str | Path) -> Iterator[BinaryIO]:
        """Follow the bytes read from ``path`` in a step; yield the open file."""
        try:
            raw = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise InvalidInputError(f"{path}: cannot open ({exc.strerror})") from exc
        size = Path(path).stat().st_size if Path(path).is_file() else None
        with raw, self.step(description, total=size) as advance:
            yield tracked_file(raw, advance)

    @property
    def elapsed(self) -> float:
        """Seconds since the progress began."""
        return time.perf_counter() - self._start


def _ignore(amount: float) -> None:
    return None


@contextlib.contextmanager
def progress(
    label: str,
    *,
    console: Console | None = None,
    enabled: bool | None = None,
    out: IO[str] | None = None,
) -> Iterator[Progress]:
    """Report the steps of ``label`` while they run, then print one summary line.

    Parameters
    ----------
    label : str
        What the work is (``"ingest drive.csv"``); starts the summary line.
    console : rich.console.Console, optional
        Where the bar is drawn (default: standard error).
    enabled : bool, optional
        Draw the bar (default: when the console is a terminal).
    out : text stream, optional
        Where the summary goes (default: standard output at the end).

    The summary is printed when the work ends without an error; after an
    error only the error is reported, by the caller.
    """
    console = console or Console(stderr=True)
    draw = console.is_terminal if enabled is None else enabled
    bar = None
    if draw:
        bar = _RichProgress(
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            # Standard output stays the report's: never drawn through the bar's console.
            redirect_stdout=False,
            redirect_stderr=False,
        )
    work = Progress(label, bar)
    try:
        yield work
    finally:
        work.finish()
    print(f"{label}: {work.summary} ({work.elapsed:.1f} s)", file=out or sys.stdout)


class _CountingReader(io.RawIOBase):
    """A raw binary stream reporting each read's size; seeks pass through."""

    def __init__(self, raw: BinaryIO, advance: Advance) -> None:
        self._raw = raw
        self._advance = advance
        self._furthest = raw.tell()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._raw.seekable()

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        end = self._raw.tell()
        if end > self._furthest:  # re-reading after a seek is not progress
            self._advance(end - self._furthest)
            self._furthest = end
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()


def tracked_file(raw: BinaryIO, advance: Advance) -> BinaryIO:
    """``raw`` as a buffered binary stream that calls ``advance(bytes)`` as it is first read."""
    return io.BufferedReader(_CountingReader(raw, advance), buffer_size=1 << 20)
