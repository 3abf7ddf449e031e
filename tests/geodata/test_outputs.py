"""Signal GeoTIFFs and the cells GeoPackage (geodata.outputs).

Tiny synthetic signal tables: a patch of H3 res-10 cells in Thượng Nông
(values made up), rasterised in an explicit UTM CRS. ``gdalinfo`` and
``ogrinfo`` come from Debian's ``gdal-bin`` (``make test`` installs it).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import h3ronpy
import h3ronpy.vector as h3v
import numpy as np
import pandas as pd
import pytest
import rasterio
from pyproj import Transformer

from geodata.errors import InvalidInputError, MissingColumnError
from geodata.outputs import CELL_EXPORT_SCHEMA, NODATA, write_cells_gpkg, write_signal_geotiffs

UTM_48N = "EPSG:32648"
CENTRE = (22.57, 105.49)  # lat, lon: Thượng Nông, Na Hang
# GDAL's own COG checker, shipped with Debian's python3-gdal (optional).
COG_VALIDATOR = Path("/usr/lib/python3/dist-packages/osgeo_utils/samples/")
COG_VALIDATOR /= "validate_cloud_optimized_geotiff.py"


def _patch(k: int = 3) -> np.ndarray:
    """The res-10 cells within ``k`` steps of the centre (sorted)."""
    centre = h3v.coordinates_to_cells(np.array([CENTRE[0]]), np.array([CENTRE[1]]), 10)
    disk = h3ronpy.grid_disk(np.asarray(centre, dtype=np.uint64), k).to_pylist()[0]
    return np.sort(np.asarray(disk, dtype=np.uint64))


@pytest.fixture
def signal() -> pd.DataFrame:
    """Viettel LTE on the whole patch, VinaPhone UMTS on its first half."""
    cells = _patch()
    lte = pd.DataFrame(
        {
            "h3": cells,
            "carrier": "Viettel",
            "radio": "lte",
            "mean_dbm": -120.0 + np.arange(len(cells)),
            "sigma_db": 6.0,
            "p_usable": np.linspace(0, 1, len(cells)),
            "evidence": "predicted",
            "count": 0,
        }
    )
    umts = lte.iloc[: len(cells) // 2].assign(
        carrier="VinaPhone", radio="umts", mean_dbm=-100.0, evidence="both", count=4
    )
    return pd.concat([lte, umts], ignore_index=True)


def _centre_xy(cell: int) -> tuple[float, float]:
    centre = h3v.cells_to_coordinates(np.array([cell], dtype=np.uint64))
    to_utm = Transformer.from_crs("EPSG:4326", UTM_48N, always_xy=True)
    x, y = to_utm.transform(np.asarray(centre["lng"])[0], np.asarray(centre["lat"])[0])
    return float(x), float(y)


def test_one_cloud_optimised_geotiff_per_carrier_and_radio(
    signal: pd.DataFrame, tmp_path: Path
) -> None:
    paths = write_signal_geotiffs(signal, tmp_path, crs=UTM_48N, pixel_m=30)

    assert [p.name for p in paths] == ["signal_viettel_lte.tif", "signal_vinaphone_umts.tif"]
    with rasterio.open(paths[0]) as src:
        assert src.crs.to_epsg() == 32648
        assert src.dtypes == ("float32",)
        assert src.nodata == NODATA
        assert src.res == (30.0, 30.0)
        assert src.block_shapes == [(512, 512)]
        assert src.profile["tiled"] and src.compression.name == "deflate"
        assert src.overviews(1)
        assert src.tags()["source"] == "lomsong"
        assert src.tags(1) | {"carrier": "Viettel", "radio": "lte", "units": "dBm"} == src.tags(1)
        assert src.units == ("dBm",)
        assert "RSRP" in (src.descriptions[0] or "")
        values = src.read(1)
    assert (values == NODATA).any(), "the corners of a hexagon patch have no estimate"
    estimated = values[values != NODATA]
    assert set(np.unique(estimated)) == set(
        signal.loc[signal["radio"] == "lte", "mean_dbm"].astype(np.float32)
    )


def test_a_cells_centre_pixel_holds_its_value(signal: pd.DataFrame, tmp_path: Path) -> None:
    lte = signal.loc[signal["radio"] == "lte"]
    paths = write_signal_geotiffs(lte, tmp_path, crs=UTM_48N)
    with rasterio.open(paths[0]) as src:
        for row in lte.iloc[[0, 18, 36]].itertuples():
            found = next(src.sample([_centre_xy(int(row.h3))]))[0]
            assert found == pytest.approx(row.mean_dbm)
        # The grid is snapped to whole pixels, so runs line up.
        assert src.transform.c % 30 == 0 and src.transform.f % 30 == 0


def test_the_other_values_and_default_crs(signal: pd.DataFrame, tmp_path: Path) -> None:
    paths = write_signal_geotiffs(signal, tmp_path, value="p_usable")

    assert [p.name for p in paths] == ["p_usable_viettel_lte.tif", "p_usable_vinaphone_umts.tif"]
    with rasterio.open(paths[0]) as src:
        assert src.crs.to_epsg() == 32648  # the UTM zone of the cells
        assert src.tags(1)["units"] == "1"
        assert 0 <= src.read(1, masked=True).min() <= src.read(1, masked=True).max() <= 1


def test_bad_arguments_are_refused(signal: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(MissingColumnError, match="sigma"):
        write_signal_geotiffs(signal.drop(columns="sigma_db"), tmp_path, value="sigma_db")
    with pytest.raises(InvalidInputError, match="metric CRS"):
        write_signal_geotiffs(signal, tmp_path, crs="EPSG:4326")
    with pytest.raises(InvalidInputError, match="pixel_m"):
        write_signal_geotiffs(signal, tmp_path, pixel_m=0)
    coarse = signal.iloc[:1].assign(
        h3=np.asarray(h3ronpy.change_resolution(signal["h3"].to_numpy()[:1], 9))
    )
    with pytest.raises(InvalidInputError, match="resolutions"):
        write_signal_geotiffs(pd.concat([signal, coarse]), tmp_path)
    assert write_signal_geotiffs(signal.iloc[:0], tmp_path) == []
    assert not list(tmp_path.glob("*.tif"))


def _gdal_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (Debian gdal-bin; `make test` installs it)")
    return path


def test_gdalinfo_reads_the_georeferencing(signal: pd.DataFrame, tmp_path: Path) -> None:
    gdalinfo = _gdal_tool("gdalinfo")
    path = write_signal_geotiffs(signal, tmp_path, crs=UTM_48N)[0]
    with rasterio.open(path) as src:
        origin = (src.transform.c, src.transform.f)

    info = json.loads(
        subprocess.run(
            [gdalinfo, "-json", str(path)], capture_output=True, text=True, check=True
        ).stdout
    )
    assert '"EPSG",32648' in info["coordinateSystem"]["wkt"].replace(" ", "")
    assert info["geoTransform"] == [origin[0], 30.0, 0.0, origin[1], 0.0, -30.0]
    assert info["bands"][0]["noDataValue"] == NODATA
    assert info["bands"][0]["overviews"]
    assert info["bands"][0]["block"] == [512, 512]
    assert info["metadata"]["IMAGE_STRUCTURE"]["LAYOUT"] == "COG"
    if COG_VALIDATOR.is_file() and Path("/usr/bin/python3").is_file():
        check = subprocess.run(
            ["/usr/bin/python3", str(COG_VALIDATOR), str(path)], capture_output=True, text=True
        )
        if "No module named" not in check.stderr:
            assert check.returncode == 0, check.stdout + check.stderr


def test_cells_gpkg_round_trips(signal: pd.DataFrame, tmp_path: Path) -> None:
    path = write_cells_gpkg(signal, tmp_path / "cells.gpkg")
    write_cells_gpkg(signal, path)  # a second write replaces the layer

    back = gpd.read_file(path, layer="cells")
    assert back.crs.to_epsg() == 4326
    assert len(back) == len(signal)
    assert list(back.columns) == [*CELL_EXPORT_SCHEMA, "geometry"]
    assert back["h3"].tolist() == h3ronpy.cells_to_string(signal["h3"].to_numpy()).to_pylist()
    pd.testing.assert_series_equal(back["mean_dbm"], signal["mean_dbm"], check_names=False)
    assert (back.geom_type == "Polygon").all()
    centres = back.geometry.representative_point()
    assert (
        np.asarray(h3v.coordinates_to_cells(centres.y.to_numpy(), centres.x.to_numpy(), 10))
        == signal["h3"].to_numpy()
    ).all()


def test_ogrinfo_opens_the_cells_layer(signal: pd.DataFrame, tmp_path: Path) -> None:
    ogrinfo = _gdal_tool("ogrinfo")
    path = write_cells_gpkg(signal, tmp_path / "cells.gpkg")

    done = subprocess.run([ogrinfo, "-so", str(path), "cells"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr
    assert f"Feature Count: {len(signal)}" in done.stdout
    assert "Geometry: Polygon" in done.stdout
    for column in ("h3: String", "mean_dbm: Real", "evidence: String", "count: Integer"):
        assert column in done.stdout


def test_gpkg_needs_the_cell_column(tmp_path: Path) -> None:
    with pytest.raises(MissingColumnError, match="h3"):
        write_cells_gpkg(pd.DataFrame({"carrier": ["Viettel"]}), tmp_path / "cells.gpkg")


def test_the_cells_table_works_too(tmp_path: Path) -> None:
    """``AnalysisResult.cells`` (per carrier, ``dbm``) writes ``dbm`` as ``mean_dbm``."""
    cells = pd.DataFrame(
        {"h3": _patch(1), "carrier": "MobiFone", "dbm": -101.0, "cell_class": "fair"}
    )
    back = gpd.read_file(write_cells_gpkg(cells, tmp_path / "c.gpkg"))
    pd.testing.assert_frame_equal(
        back[["carrier", "mean_dbm", "cell_class"]],
        cells.drop(columns="h3").rename(columns={"dbm": "mean_dbm"}),
        check_dtype=False,
    )
    assert back["sigma_db"].isna().all() and (back["count"] == 0).all()
    assert (back["resolution"] == 10).all()
