"""`lomsong analyze` on the demo region writes the GIS outputs (cells.gpkg, GeoTIFFs).

One commune of the demo (Thượng Nông) keeps the run short; the outputs do
not depend on how many communes there are.
"""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import rasterio

from app.cli import main
from geodata.demo import write_demo


@pytest.mark.slow
def test_analyze_writes_cells_gpkg_and_signal_geotiffs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = write_demo(tmp_path / "demo", seed=7)
    villages = gpd.read_file(demo.villages)
    villages = villages.loc[villages["commune_id"] == "thuong-nong"]
    villages.to_file(tmp_path / "villages.geojson", driver="GeoJSON")
    west, south, east, north = villages.total_bounds
    readings = pd.read_csv(demo.readings, dtype=str)
    lon, lat = readings["lon"].astype(float), readings["lat"].astype(float)
    readings = readings.loc[lon.between(west, east) & lat.between(south, north)]
    readings.to_csv(tmp_path / "readings.csv", index=False)
    out = tmp_path / "out"

    status = main(
        [
            "analyze",
            "--villages",
            str(tmp_path / "villages.geojson"),
            "--sites",
            str(demo.sites),
            "--readings",
            str(tmp_path / "readings.csv"),
            "--dem",
            str(demo.dem),
            "--population",
            str(demo.population),
            "--out",
            str(out),
        ]
    )

    assert status == 0
    cells = gpd.read_file(out / "cells.gpkg", layer="cells")
    assert cells.crs.to_epsg() == 4326
    assert {"h3", "carrier", "radio", "mean_dbm", "sigma_db", "p_usable", "evidence"} <= set(
        cells.columns
    )
    assert set(cells["evidence"]) <= {"measured", "predicted", "both"}
    pairs = cells[["carrier", "radio"]].drop_duplicates()
    names = {f"signal_{c.lower()}_{r}.tif" for c, r in pairs.itertuples(index=False)}
    assert names and names <= {p.name for p in out.glob("signal_*.tif")}
    assert len(list(out.glob("p_usable_*.tif"))) == len(names)
    with rasterio.open(out / sorted(names)[0]) as src:
        assert src.crs.to_epsg() == 32648  # UTM 48N: Tuyên Quang
        assert src.nodata is not None and src.overviews(1)
        band = src.read(1, masked=True)
        assert band.count() > 0 and -160 < band.min() < band.max() < -20
    assert "cells.gpkg" in capsys.readouterr().out
    # map.html is the service's commune page: hexagons per carrier and radio, the
    # sites near the commune, the DEM's hillshade, a header; everything inline.
    page = (out / "map.html").read_text(encoding="utf-8")
    assert "<h1>Xã Thượng Nông</h1>" in page
    assert page.count("lomsong.hexLayer(") == len(pairs)
    assert '"className":"lomsong-site"' in page
    assert 'L.imageOverlay("data:image/png;base64,' in page
    assert re.findall(r'<(?:script|link)[^>]*(?:src|href)="([^"]+)"', page) == []
