"""`lomsong demo`, `analyze` and `evaluate`, called as `app.cli.main([...])`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from app.cli import main

FORBIDDEN = ("cdn.jsdelivr", "cdnjs", "unpkg", "code.jquery", "bootstrapcdn", "fonts.googleapis")


@pytest.fixture
def inputs(tmp_path: Path, villages: gpd.GeoDataFrame) -> dict[str, Path]:
    """The tiny region as the files a user would bring."""
    paths = {
        "villages": tmp_path / "villages.geojson",
        "sites": tmp_path / "sites.csv",
        "readings": tmp_path / "readings.csv",
        "more_readings": tmp_path / "more.csv",
    }
    villages.drop(columns=["commune_id"]).to_file(paths["villages"], driver="GeoJSON")
    pd.DataFrame(
        {
            "radio": ["LTE"],
            "mcc": [452],
            "net": [4],
            "area": [101],
            "cell": [1001],
            "unit": [0],
            "lon": [105.495],
            "lat": [22.565],
            "range": [3000],
            "samples": [10],
            "changeable": [1],
            "created": [1700000000],
            "updated": [1700000000],
            "averageSignal": [0],
        }
    ).to_csv(paths["sites"], index=False)
    readings = pd.DataFrame(
        {
            "time": [f"2026-01-0{d}T0{h}:00:00Z" for d in (5, 6, 7) for h in (1, 2)],
            "lat": 22.565,
            "lon": 105.495,
            "accuracy_m": 10,
            "mcc": 452,
            "mnc": 4,
            "radio": "lte",
            "signal_dbm": -90,
            "no_service": False,
            "device": "p1",
        }
    )
    readings.iloc[:4].to_csv(paths["readings"], index=False)
    bad = readings.iloc[4:].copy()
    bad.loc[bad.index[0], "lat"] = 95.0
    bad.to_csv(paths["more_readings"], index=False)
    return paths


def _analyze(
    inputs: dict[str, Path], out: Path, *extra: str, readings: str = "", villages: str = ""
) -> int:
    """``lomsong analyze`` on the fixture's files (or the given ones), into ``out``."""
    return main(
        [
            "analyze",
            "--villages",
            villages or str(inputs["villages"]),
            "--sites",
            str(inputs["sites"]),
            "--readings",
            readings or str(inputs["readings"]),
            "--out",
            str(out),
            *extra,
        ]
    )


def test_analyze_writes_results_and_an_offline_map(
    inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"

    status = _analyze(inputs, out, "--readings", str(inputs["more_readings"]))

    assert status == 0
    villages = json.loads((out / "villages.geojson").read_text(encoding="utf-8"))
    assert len(villages["features"]) == 3
    props = {f["properties"]["id"]: f["properties"] for f in villages["features"]}
    for key in (
        "id",
        "name",
        "commune",
        "verdict",
        "households",
        "households_without_signal",
        "best_carrier",
        "carriers",
    ):
        assert key in props["ban-giong"]
    assert props["ban-giong"]["name"] == "Bản Giòng"
    assert props["ban-giong"]["verdict"] in {"no_signal", "patchy", "covered", "unknown"}
    zones = json.loads((out / "dead_zones.geojson").read_text(encoding="utf-8"))
    assert zones["type"] == "FeatureCollection"
    page = (out / "map.html").read_text(encoding="utf-8")
    assert "Trắng sóng (không có sóng)" in page
    assert "<h1>Xã Linh Phú, Thượng Nông</h1>" in page  # the service's commune page, standalone
    assert "lomsong.hexLayer(" in page and '"className":"lomsong-site"' in page
    assert re.findall(r'<(?:script|link)[^>]*(?:src|href)="([^"]+)"', page) == []
    assert not any(host in page for host in FORBIDDEN)
    printed = capsys.readouterr().out
    assert "villages: 3 accepted, 0 rejected" in printed
    assert "sites: 1 accepted, 0 rejected" in printed
    assert "readings: 5 accepted, 1 rejected" in printed
    assert "lat: outside -90..90" in printed
    assert re.search(r"total\s+3\s+199", printed)


def test_analyze_reports_bad_input_without_a_traceback(
    inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.geojson"
    broken.write_text("not geojson", encoding="utf-8")

    status = _analyze(inputs, tmp_path / "out", villages=str(broken))

    assert status == 1
    assert capsys.readouterr().err == (
        f"lomsong: error: {broken}: villages: expected a JSON list or an object with a"
        " 'features' list\n"
    )


def test_analyze_refuses_bad_site_and_village_rows_and_counts_them(
    inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sites = pd.read_csv(inputs["sites"])
    pd.concat([sites, sites.assign(cell=1002, lat=95.0)]).to_csv(inputs["sites"], index=False)
    villages = json.loads(inputs["villages"].read_text(encoding="utf-8"))
    extra = json.loads(json.dumps(villages["features"][0]))
    extra["properties"].update(id="extra", households=-1)
    villages["features"].append(extra)
    inputs["villages"].write_text(json.dumps(villages), encoding="utf-8")

    status = _analyze(inputs, tmp_path / "out")

    assert status == 0
    printed = capsys.readouterr().out
    assert (
        "villages: 3 accepted, 1 rejected\n  rejected      1  households: outside 0..1e+07\n"
        in (printed)
    )
    assert "sites: 1 accepted, 1 rejected\n  rejected      1  lat: outside -90..90\n" in printed
    written = json.loads((tmp_path / "out" / "villages.geojson").read_text(encoding="utf-8"))
    assert sorted(f["properties"]["id"] for f in written["features"]) == sorted(
        f["properties"]["id"] for f in villages["features"][:3]
    )


def test_analyze_exits_with_a_clear_message_when_no_site_is_valid(
    inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pd.read_csv(inputs["sites"]).assign(radio="CDMA").to_csv(inputs["sites"], index=False)

    status = _analyze(inputs, tmp_path / "out")

    assert status == 1
    assert capsys.readouterr().err == (
        f"lomsong: error: {inputs['sites']}: no valid sites (1 refused: radio: CDMA is not"
        " analysed; expected GSM, UMTS, LTE or NR ×1)\n"
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("format", ["auto", "geosubmit"])
def test_analyze_reads_a_geosubmit_file(
    inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], format: str
) -> None:
    readings = pd.read_csv(inputs["readings"])
    epoch = pd.Timestamp("1970-01-01", tz="UTC")
    stamps = (pd.to_datetime(readings["time"], utc=True) - epoch) // pd.Timedelta(milliseconds=1)
    items = [
        {
            "timestamp": int(stamp),
            "position": {"latitude": row.lat, "longitude": row.lon, "accuracy": 10},
            "cellTowers": [
                {
                    "radioType": "lte",
                    "mobileCountryCode": 452,
                    "mobileNetworkCode": 4,
                    "signalStrength": int(row.signal_dbm),
                }
            ],
        }
        for stamp, row in zip(stamps, readings.itertuples(), strict=True)
    ]
    path = tmp_path / "submit.json"
    path.write_text(json.dumps({"items": [*items, {"position": {}}]}), encoding="utf-8")

    status = _analyze(inputs, tmp_path / "out", "--format", format, readings=str(path))

    assert status == 0
    printed = capsys.readouterr().out
    assert f"readings: {len(items)} accepted, 0 rejected\n" in printed


@pytest.mark.slow
def test_demo_writes_the_region(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"

    assert main(["demo", "--out", str(out), "--seed", "7"]) == 0

    for name in (
        "communes.geojson",
        "villages.geojson",
        "sites.csv",
        "readings.csv",
        "dem.tif",
        "population.tif",
    ):
        assert (out / name).is_file()
    villages = gpd.read_file(out / "villages.geojson")
    assert (villages["commune_id"] == "thuong-nong").sum() == 12
    assert "villages" in capsys.readouterr().out


# --- lomsong evaluate ---------------------------------------------------------

PROJECT = Path(__file__).resolve().parents[2]
GNETTRACK = (
    PROJECT.parent / "shared" / "samples" / "ucc5g_gnettrack_driving_B_2020.02.27_20.35.57.csv"
)


@pytest.fixture
def evaluation(tmp_path: Path, inputs: dict[str, Path]) -> dict[str, Path]:
    """Readings on 60 cells over ~8 km (several CV blocks), four per cell, a
    smooth signal; the true signal at each reading; reference verdicts."""
    rng = np.random.default_rng(3)
    lat = np.repeat(22.53 + rng.uniform(0, 0.07, 60), 4) + rng.normal(0, 1e-5, 240)
    lon = np.repeat(105.44 + rng.uniform(0, 0.07, 60), 4) + rng.normal(0, 1e-5, 240)
    trend = -80.0 - 300.0 * (lat - 22.53)
    shadowing = 3.0 * np.sin(lon * 2000.0)
    readings = pd.DataFrame(
        {
            "time": pd.date_range("2026-01-05", periods=240, freq="7min", tz="UTC").strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "lat": lat.round(6),
            "lon": lon.round(6),
            "accuracy_m": 10.0,
            "mcc": 452,
            "mnc": 4,
            "radio": "lte",
            "signal_dbm": (trend + shadowing + rng.normal(0, 2, 240)).round(),
            "no_service": False,
            "device": [f"p{i % 3}" for i in range(240)],
        }
    )
    paths = dict(inputs)
    paths["cv_readings"] = tmp_path / "cv_readings.csv"
    readings.to_csv(paths["cv_readings"], index=False)
    paths["signal"] = tmp_path / "signal.csv"
    pd.DataFrame(
        {
            "lat": lat.round(6),
            "lon": lon.round(6),
            "mcc": 452,
            "mnc": 4,
            "radio": "lte",
            "median_dbm": trend + shadowing,
            "shadowing_db": shadowing,
        }
    ).to_csv(paths["signal"], index=False)
    paths["verdicts"] = tmp_path / "reference.csv"
    paths["verdicts"].write_text(
        "village_id,verdict,borderline\nban-giong,patchy,false\nna-ta,covered,\n"
        "dong-da-1,no_signal,true\n",
        encoding="utf-8",
    )
    return paths


def _evaluate_args(paths: dict[str, Path], *extra: str) -> list[str]:
    return [
        "evaluate",
        "--readings",
        str(paths["cv_readings"]),
        "--sites",
        str(paths["sites"]),
        *extra,
    ]


def test_evaluate_scores_verdicts_against_a_reference(
    evaluation: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        _evaluate_args(
            evaluation,
            "--villages",
            str(evaluation["villages"]),
            "--truth",
            str(evaluation["verdicts"]),
        )
    )

    assert status == 0
    printed = capsys.readouterr().out
    assert "estimator" in printed and "idw" in printed and "oracle" not in printed
    assert re.search(r"villages scored: 3, judged: \d", printed)
    for label in ("accuracy", "false alarms", "misses"):
        assert re.search(rf"^{label}\s+(\d+\.\d % of \d+|n/a)", printed, re.MULTILINE), label
    table = printed[printed.index("confusion") :].splitlines()
    assert table[1].split() == ["found", "no_signal", "patchy", "covered", "unknown"]
    assert [row.split()[0] for row in table[3:7]] == ["no_signal", "patchy", "covered", "unknown"]
    assert sum(int(v) for row in table[3:7] for v in row.split()[1:]) == 3


def test_evaluate_prints_the_oracle_beside_the_fused_rmse(
    evaluation: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        _evaluate_args(evaluation, "--truth-signal", str(evaluation["signal"]), "--block-m", "1000")
    )

    assert status == 0
    printed = capsys.readouterr().out
    assert "1000 m squares" in printed
    assert re.search(r"^\s+oracle\s+\d+", printed, re.MULTILINE)
    assert re.search(r"fused RMSE \d+\.\d\d dB; oracle floor \d+\.\d\d dB", printed)
    assert re.search(
        r"\nevaluate \S+: \d+ readings, 5-fold blocked CV,"
        r" fused RMSE \d+\.\d\d dB \(\d+\.\d s\)\n$",
        printed,
    )


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (
            "village_id,verdict\nban-giong,lom_song\n",
            "line 2, field verdict, value 'lom_song':"
            " not one of no_signal, patchy, covered, unknown",
        ),
        (
            "village_id,verdict\nban-giong,patchy\nban-giong,covered\n",
            "line 3, field village_id, value 'ban-giong': repeated (first on line 2)",
        ),
        (
            "village_id,verdict,borderline\nban-giong,patchy,maybe\n",
            "line 2, field borderline, value 'maybe': not true/false",
        ),
        ("village_id,verdict\n,patchy\n", "line 2, field village_id, value '': no village id"),
        ("village,verdict\nban-giong,patchy\n", "no column village_id (columns: village, verdict)"),
        ("", "not a readable CSV"),
    ],
)
def test_evaluate_refuses_a_bad_verdicts_file_without_a_traceback(
    evaluation: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str,
    detail: str,
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(content, encoding="utf-8")

    status = main(
        _evaluate_args(evaluation, "--villages", str(evaluation["villages"]), "--truth", str(bad))
    )

    assert status == 1
    error = capsys.readouterr().err
    assert error.startswith(f"lomsong: error: verdicts file {bad}: ")
    assert detail in error
    assert "Traceback" not in error


def test_evaluate_refuses_a_missing_file_and_a_bad_signal_file(
    evaluation: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.csv"
    assert (
        main(
            _evaluate_args(
                evaluation, "--villages", str(evaluation["villages"]), "--truth", str(missing)
            )
        )
        == 1
    )
    assert capsys.readouterr().err == f"lomsong: error: verdicts file {missing}: no such file\n"
    signal = pd.read_csv(evaluation["signal"], dtype=str)
    signal.loc[1, "shadowing_db"] = "n/a"
    bad = tmp_path / "signal.csv"
    signal.to_csv(bad, index=False)
    assert main(_evaluate_args(evaluation, "--truth-signal", str(bad))) == 1
    assert capsys.readouterr().err == (
        f"lomsong: error: signal file {bad}: line 3, field shadowing_db, value 'n/a': "
        "not a number\n"
    )
    assert main(_evaluate_args(evaluation, "--truth", str(evaluation["verdicts"]))) == 1
    assert "--truth needs --villages" in capsys.readouterr().err


def test_no_module_learns_from_the_truth() -> None:
    """The truth is only scored: no analysis or service module names a truth
    file or attribute; the CLI takes whatever path the user gives."""
    for package in ("app", "coverage"):
        for module in (PROJECT / package).rglob("*.py"):
            text = module.read_text(encoding="utf-8")
            assert "truth.csv" not in text and ".truth" not in text, module


@pytest.mark.skipif(not GNETTRACK.is_file(), reason="../shared/samples not present")
def test_evaluate_a_gnettrack_log_with_1_km_blocks(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        [
            "evaluate",
            "--readings",
            str(GNETTRACK),
            "--format",
            "gnettrack",
            "--tz",
            "Europe/Dublin",
            "--mcc",
            "272",
            "--mnc",
            "1",
            "--block-m",
            "1000",
        ]
    )

    assert status == 0
    printed = capsys.readouterr().out
    per_radio = printed[printed.index("per radio:") :]
    assert re.search(r"^\s+lte\s+readings\s+\d+", per_radio, re.MULTILINE)
    assert re.search(r"^\s+lte\s+idw\s+\d+", per_radio, re.MULTILINE)


def test_analyze_tells_a_gnettrack_log_and_needs_its_time_zone(
    inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "drive.csv"
    log.write_text(
        "Timestamp,Longitude,Latitude,Speed,NetworkMode,RSRP,RSRQ,SNR\n"
        "2026.01.05_10.00.00,105.495,22.565,0,LTE,-95,-10,5\n"
        "2026.01.05_10.00.05,105.495,22.565,0,LTE,-97,-11,4\n"
        "2026.01.05_10.00.10,105.495,22.565,0,LTE,-,-,-\n",
        encoding="utf-8",
    )

    refused = _analyze(inputs, tmp_path / "out", readings=str(log))
    assert refused == 1
    assert capsys.readouterr().err.startswith(
        f"lomsong: error: {log}: gnettrack: the tz parameter is required"
    )

    tz = ("--tz", "Asia/Ho_Chi_Minh", "--mcc", "452", "--mnc", "4")
    assert _analyze(inputs, tmp_path / "out", *tz, readings=str(log)) == 0
    printed = capsys.readouterr().out
    assert "readings: 2 accepted, 1 rejected\n" in printed


def test_analyze_reads_a_spreadsheet_named_by_readings_format(
    inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.geodata.formats.spreadsheets import xlsx_bytes

    frame = pd.read_csv(inputs["more_readings"], dtype=str, keep_default_na=False)
    sheet = tmp_path / "readings.xlsx"
    sheet.write_bytes(xlsx_bytes([list(frame.columns), *frame.to_numpy().tolist()]))

    status = _analyze(inputs, tmp_path / "out", "--readings-format", "xlsx", readings=str(sheet))

    assert status == 0
    out, err = capsys.readouterr()
    assert "readings: 1 accepted, 1 rejected" in out
    assert "lat: outside -90..90" in out
    assert err == ""  # not a terminal: no bar
    # The one-line summary comes last.
    assert re.search(
        r"analyze \S+out: 3 villages judged from 1 readings \(\d+ no signal, \d+ patchy\)"
        r" \(\d+\.\d s\)\n$",
        out,
    )


def test_ingest_draws_a_bar_on_a_terminal_and_prints_a_summary_either_way(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import io

    from rich.console import Console

    import geodata.progress

    monkeypatch.setenv("LOMSONG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LOMSONG_DEVICE_SALT", "a-test-salt-not-the-placeholder")
    path = tmp_path / "drive.csv"
    path.write_text(
        "Timestamp;Longitude;Latitude;Operatorname;NetworkMode;RSRP;RSRQ;SNR\n"
        "2026.01.05_10.00.00;105,495;22,565;Viettel;LTE;-101;-12;4,0\n"
        "2026.01.05_10.00.05;105,495;22,565;VN VINAPHONE;LTE;-97;-11;5,0\n"
    )

    assert main(["ingest", str(path), "--tz", "Asia/Ho_Chi_Minh", "--no-refresh"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines()[0] == "accepted           2  new readings stored"
    assert re.fullmatch(
        rf"ingest {re.escape(str(path))}: 2 new readings stored, 0 already stored, 0 rejected"
        r" \(\d+\.\d s\)",
        out.splitlines()[-1],
    )

    screen = io.StringIO()
    monkeypatch.setattr(
        geodata.progress,
        "Console",
        lambda stderr=False: Console(file=screen, force_terminal=True, width=100),
    )
    assert main(["ingest", str(path), "--tz", "Asia/Ho_Chi_Minh", "--no-refresh"]) == 0
    assert "reading drive.csv" in screen.getvalue()
    assert "\x1b[" in screen.getvalue()
    out = capsys.readouterr().out
    assert "duplicates         2  already stored" in out
    assert "ingest" not in out.splitlines()[0] and out.splitlines()[-1].startswith("ingest ")


def test_db_upgrade_creates_then_finds_nothing_to_do(
    database: Path | str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from app.store.schema import SCHEMA_VERSION

    monkeypatch.setenv("LOMSONG_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("LOMSONG_DEVICE_SALT", "a-secret-salt-for-this-test")
    if isinstance(database, str):
        monkeypatch.setenv("LOMSONG_DATABASE_URL", database)
    assert main(["db", "upgrade"]) == 0
    assert f"schema version {SCHEMA_VERSION} (ran 1..{SCHEMA_VERSION})" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert capsys.readouterr().out.endswith(f"schema version {SCHEMA_VERSION}, nothing to do\n")
