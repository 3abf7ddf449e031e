"""Progress: a bar on a terminal only, a summary line always, bytes followed as files are read."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from geodata.errors import InvalidInputError
from geodata.progress import progress, tracked_file


def terminal() -> tuple[Console, io.StringIO]:
    screen = io.StringIO()
    return Console(file=screen, force_terminal=True, width=100), screen


def test_off_a_terminal_nothing_is_drawn_and_the_summary_is_printed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with progress("ingest a.csv") as work:
        assert not work.drawing  # pytest's captured stderr is no terminal
        with work.step("reading", total=10) as advance:
            advance(10)
        work.summary = "10 new readings stored"

    out, err = capsys.readouterr()
    assert err == ""
    assert re.fullmatch(r"ingest a\.csv: 10 new readings stored \(\d+\.\d s\)\n", out)


def test_on_a_terminal_each_step_is_drawn_and_then_cleared(
    capsys: pytest.CaptureFixture[str],
) -> None:
    console, screen = terminal()
    with progress("analyze out", console=console) as work:
        assert work.drawing
        with work.step("readings r.csv", total=4) as advance:
            advance(2)
            console.file.flush()
        work.summary = "3 villages judged"
    drawn = screen.getvalue()
    assert "readings r.csv" in drawn
    assert "\x1b[" in drawn  # terminal control: the bar, then its removal
    assert re.fullmatch(r"analyze out: 3 villages judged \(\d+\.\d s\)\n", capsys.readouterr().out)


def test_after_an_error_no_summary_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="bad"), progress("evaluate x"):
        raise ValueError("bad")
    assert capsys.readouterr().out == ""


def test_a_tracked_file_reports_each_byte_once(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(bytes(range(256)) * 40_000)  # 10 MB
    seen: list[float] = []
    with path.open("rb") as raw:
        stream = tracked_file(raw, seen.append)
        assert stream.read(100) == bytes(range(100))
        stream.seek(0)
        assert len(stream.read()) == 10_240_000
        stream.seek(0)
        stream.read()
    assert sum(seen) == 10_240_000


def test_a_file_step_refuses_a_missing_file_as_bad_input(
    capsys: pytest.CaptureFixture[str],
) -> None:
    missing = "/nonexistent/r.csv"
    with (
        pytest.raises(InvalidInputError, match=r"/nonexistent/r\.csv: cannot open"),
        progress("ingest") as work,
        work.file_step("reading", missing),
    ):
        pass
    assert capsys.readouterr().out == ""
