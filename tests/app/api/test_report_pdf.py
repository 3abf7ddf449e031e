"""The commune report as a person prints it: Chromium to an A4 PDF, read back with poppler.

The demo commune (Thượng Nông, 12 villages) is printed with ``page.pdf``;
``pdftoppm`` renders the pages, ``pdftotext`` reads the text layer and
``pdfimages`` lists where the map landed. The expected summary is counted
here from the villages API, not by the report's own function.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

pytestmark = [pytest.mark.browser, pytest.mark.slow]

POPPLER = ("pdftoppm", "pdftotext", "pdfimages", "pdfinfo")


def _poppler() -> None:
    missing = [tool for tool in POPPLER if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: `apt-get install -y poppler-utils`")


def _run(*command: str | Path) -> str:
    return subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, check=True
    ).stdout


def _expected_summary(base: str) -> str:
    villages = httpx.get(
        f"{base}/api/v1/villages", params={"commune_id": "thuong-nong"}, timeout=60
    ).json()["features"]
    props = [f["properties"] for f in villages]
    verdicts = [p["verdict"] for p in props]
    unknown = verdicts.count("unknown")
    households = sum(p["households"] for p in props)
    without = sum(p["households_without_signal"] or 0 for p in props)
    return (
        f"{verdicts.count('no_signal')} thôn trắng sóng, {verdicts.count('patchy')} lõm sóng"
        + (f", {unknown} chưa đủ dữ liệu" if unknown else "")
        + f"; {without}/{households} hộ không có sóng"
    )


def test_the_report_prints_on_a4_and_reads_back(
    demo_server: str,
    browser: Any,
    tmp_path: Path,
) -> None:
    _poppler()
    page = browser.new_page()
    response = page.goto(f"{demo_server}/reports/communes/thuong-nong")
    assert response is not None and response.status == 200
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(page.pdf(format="A4"))
    page.close()

    sizes = re.findall(r"Page +\d+ size: +(.*)", _run("pdfinfo", "-f", "1", "-l", "99", pdf))
    assert sizes and set(sizes) == {"595.92 x 842.88 pts (A4)"}, sizes
    _run("pdftoppm", "-r", "40", "-png", pdf, tmp_path / "page")
    images = sorted(tmp_path.glob("page-*.png"))
    # Twelve villages, the map and two tables: more than one page, and no runaway.
    assert 2 <= len(images) <= 3 and len(images) == len(sizes), images
    for image in images:
        with Image.open(image) as drawn:
            width, height = drawn.size
            assert abs(height / width - 297 / 210) < 0.01  # A4's sides
            grey = drawn.convert("L")
            inked = sum(grey.histogram()[:200])
            assert inked > 0.005 * width * height, f"{image.name} is blank"

    text = unicodedata.normalize("NFC", _run("pdftotext", "-layout", pdf, "-"))
    flat = " ".join(text.split())
    assert "Báo cáo sóng di động: Xã Thượng Nông" in flat
    assert _expected_summary(demo_server) in flat
    assert re.search(r"In ngày: \d\d/\d\d/\d{4}", flat)
    # A footer with the page number on every page, and the village total row once.
    pages = len(images)
    assert re.findall(r"Trang (\d+)/(\d+)", flat) == [
        (str(i), str(pages)) for i in range(1, 1 + pages)
    ]
    assert len(re.findall(r"^\s*Tổng\s+923\s+\d+\s*$", text, flags=re.M)) == 1
    # The map is one image on one page: not cut by a page break.
    listed = _run("pdfimages", "-list", pdf).splitlines()[2:]
    assert [line.split()[0] for line in listed] == ["1"]
