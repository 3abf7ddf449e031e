"""Sites and villages as admins manage them: who may, what each endpoint answers, what is stored.

Synthetic data, built here or in ``conftest``: a Viettel LTE cell at Bản
Giòng's centre, small site files in OpenCelliD's layout, square villages
inside Thượng Nông's bounding box (DESIGN.md).
"""

from __future__ import annotations

import gzip
import json
import unicodedata
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error

import app.services.analysis
from app.cli import ROLES
from app.core.security import INVALID_KEY_DETAIL
from app.services.keys import create_key
from app.store import Store

SITES_URL = "/api/v1/sites"
IMPORT_SITES = "/api/v1/sites/import"
IMPORT_VILLAGES = "/api/v1/villages/import"
GEOJSON = "application/geo+json"
UNAUTHORISED = {"detail": INVALID_KEY_DETAIL}
ADMIN_ONLY = {"detail": "this key may not manage keys, sites or villages"}
#: The site the ``sites`` fixture stores (no site_id: named by carrier and position).
CONFTEST_SITE = "Viettel:105.495,22.565"

OPENCELLID_HEADER = (
    "radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,averageSignal"
)
# Two VinaPhone LTE sectors and a MobiFone UMTS cell near Bản Giòng, CRLF and
# empty fields as OpenCelliD and ichnaea export them.
CELL_TOWERS = (
    f"{OPENCELLID_HEADER}\r\n"
    "LTE,452,2,12100,512257,6,105.4661,22.5708,3446,296,1,1542585600,1571702400,0\r\n"
    "LTE,452,2,12100,512258,,105.4661,22.5708,,,1,1542585600,,\r\n"
    "UMTS,452,1,31500,70001,,105.52,22.58,,,,,,\r\n"
).encode()
NATIVE_HEADER = (
    f"{OPENCELLID_HEADER},site_id,name,height_m,azimuth_deg,beamwidth_deg,eirp_dbm,freq_mhz"
)


def native_row(cell: int, *, site: str = "TN-01", name: str = "Thượng Nông 1", **kw: Any) -> str:
    """One native site-file row: a Viettel LTE sector at the Thượng Nông site."""
    values: dict[str, Any] = {
        "radio": "LTE",
        "mcc": 452,
        "net": 4,
        "area": 22300,
        "cell": cell,
        "unit": "",
        "lon": 105.48,
        "lat": 22.565,
        "range": 5000,
        "samples": "",
        "changeable": 1,
        "created": 1700000000,
        "updated": "",
        "averageSignal": "",
        "site_id": site,
        "name": name,
        "height_m": 35,
        "azimuth_deg": 120,
        "beamwidth_deg": 65,
        "eirp_dbm": 61.5,
        "freq_mhz": 1800,
    }
    values.update(kw)
    return ",".join(str(v) for v in values.values())


def native_file(*rows: str) -> bytes:
    return "\n".join([NATIVE_HEADER, *rows, ""]).encode()


def square(west: float, south: float, size: float = 0.01) -> dict[str, Any]:
    ring = [
        [west, south],
        [west + size, south],
        [west + size, south + size],
        [west, south + size],
        [west, south],
    ]
    return {"type": "Polygon", "coordinates": [ring]}


def village_feature(village_id: str = "khuon-ha", **properties: Any) -> dict[str, Any]:
    """A village feature in Thượng Nông, as the demo's villages.geojson carries it."""
    props: dict[str, Any] = {
        "id": village_id,
        "name": "Khuôn Hạ",
        "commune": "Thượng Nông",
        "district": "Na Hang",
        "province": "Tuyên Quang",
        "households": 75,
        "population": 310,
        "poverty_rate": 0.4,
    }
    props.update(properties)
    return {"type": "Feature", "properties": props, "geometry": square(105.480, 22.560)}


def collection(*features: Any) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}).encode()


@pytest.fixture
def keys(store: Store) -> dict[str, str]:
    """One live key per role."""
    return {role: create_key(store, role, name=f"test {role}")[1] for role in ROLES}


@pytest.fixture
def admin(client: TestClient, keys: dict[str, str]) -> TestClient:
    """The shared client, sending the admin's key."""
    client.headers["X-API-Key"] = keys["admin"]
    return client


def wait_for_refresh(client: TestClient) -> None:
    """Block (bounded) until the background re-analysis after a change is done."""
    assert client.app.state.refresher.wait_idle(timeout=60)  # type: ignore[attr-defined]


def stored_cells(store: Store) -> list[tuple[Any, ...]]:
    sites = store.sites()
    return list(sites[["site_id", "radio", "cell_id"]].itertuples(index=False, name=None))


# --- who may do what --------------------------------------------------------
def call(client: TestClient, action: str, key: str | None) -> Any:
    """Make the request ``action`` names, with ``key`` in ``X-API-Key`` (if any)."""
    headers = {} if key is None else {"X-API-Key": key}
    if action == "list_sites":
        return client.get(SITES_URL, headers=headers)
    if action == "import_sites":
        return client.post(IMPORT_SITES, content=native_file(native_row(7)), headers=headers)
    if action == "delete_site":
        return client.delete(f"{SITES_URL}/{CONFTEST_SITE}", headers=headers)
    if action == "import_villages":
        return client.post(IMPORT_VILLAGES, content=collection(village_feature()), headers=headers)
    if action == "delete_village":
        return client.delete("/api/v1/villages/na-ta", headers=headers)
    raise AssertionError(action)


ALLOWED = {
    "list_sites": ({"planner", "admin"}, 200, {"detail": "this key may not read sites"}),
    "import_sites": ({"admin"}, 200, ADMIN_ONLY),
    "delete_site": ({"admin"}, 204, ADMIN_ONLY),
    "import_villages": ({"admin"}, 200, ADMIN_ONLY),
    "delete_village": ({"admin"}, 204, ADMIN_ONLY),
}


@pytest.mark.parametrize("action", sorted(ALLOWED))
@pytest.mark.parametrize("role", ROLES)
def test_each_role_does_exactly_what_it_may(
    client: TestClient, loaded_store: Store, keys: dict[str, str], action: str, role: str
) -> None:
    before = (stored_cells(loaded_store), loaded_store.villages()["id"].tolist())
    allowed, status, denied = ALLOWED[action]

    response = call(client, action, keys[role])

    if role in allowed:
        assert response.status_code == status, response.text
    else:
        assert (response.status_code, response.json()) == (403, denied)
        assert (stored_cells(loaded_store), loaded_store.villages()["id"].tolist()) == before


@pytest.mark.parametrize("action", sorted(ALLOWED))
def test_missing_or_wrong_key_gets_401_and_changes_nothing(
    client: TestClient, loaded_store: Store, keys: dict[str, str], action: str
) -> None:
    before = (stored_cells(loaded_store), loaded_store.villages()["id"].tolist())

    for key in (None, "lsk_00000000_" + "x" * 43, keys["admin"][:-1]):
        response = call(client, action, key)
        assert (response.status_code, response.json()) == (401, UNAUTHORISED)

    assert (stored_cells(loaded_store), loaded_store.villages()["id"].tolist()) == before


def test_anonymous_upload_setting_does_not_open_admin_endpoints(
    client: TestClient, loaded_store: Store
) -> None:
    client.app.state.settings.allow_anonymous_upload = True  # type: ignore[attr-defined]

    assert call(client, "import_sites", None).status_code == 401
    assert call(client, "delete_village", None).status_code == 401


# --- GET /api/v1/sites --------------------------------------------------------
def test_sites_as_geojson_points(admin: TestClient, loaded_store: Store) -> None:
    response = admin.get(SITES_URL)

    assert response.status_code == 200
    assert response.headers["content-type"] == GEOJSON
    body = response.json()
    assert (body["type"], body["numberMatched"], body["numberReturned"]) == (
        "FeatureCollection",
        1,
        1,
    )
    [cell] = body["features"]
    assert cell["geometry"] == {"type": "Point", "coordinates": [105.495, 22.565]}
    props = cell["properties"]
    assert {
        k: props[k]
        for k in (
            "site_id",
            "carrier",
            "mcc",
            "mnc",
            "radio",
            "cell_id",
            "area_code",
            "azimuth_deg",
            "range_m",
        )
    } == {
        "site_id": CONFTEST_SITE,
        "carrier": "Viettel",
        "mcc": 452,
        "mnc": 4,
        "radio": "lte",
        "cell_id": 1001,
        "area_code": 101,
        "azimuth_deg": None,
        "range_m": 3000.0,
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", [1001, 512257, 512258, 70001]),
        ("carrier=vinaphone", [512257, 512258]),
        ("carrier=VINAPHONE&radio=LTE", [512257, 512258]),
        ("carrier=452-01", [70001]),
        ("radio=umts", [70001]),
        ("carrier=Gmobile", []),
        ("bbox=105.49,22.56,105.50,22.57", [1001]),
        ("limit=1&offset=1", [512257]),
    ],
)
def test_sites_filters(
    admin: TestClient, loaded_store: Store, query: str, expected: list[int]
) -> None:
    assert admin.post(IMPORT_SITES, content=CELL_TOWERS).status_code == 200

    response = admin.get(f"{SITES_URL}?{query}")

    assert response.status_code == 200
    assert [f["properties"]["cell_id"] for f in response.json()["features"]] == expected


def test_sites_bad_filters_are_422(admin: TestClient, loaded_store: Store) -> None:
    assert admin.get(f"{SITES_URL}?radio=cdma").status_code == 422
    bad_bbox = admin.get(f"{SITES_URL}?bbox=1,2,3")
    assert bad_bbox.status_code == 422
    assert bad_bbox.json()["detail"].startswith("bbox must be four numbers")


# --- POST /api/v1/sites/import ------------------------------------------------
def test_native_site_file_is_stored_and_bad_rows_named(admin: TestClient, store: Store) -> None:
    nfd_name = unicodedata.normalize("NFD", "Thượng Nông 1")
    body = native_file(
        native_row(1, name=nfd_name),
        native_row(2, lat=95),
        native_row(3, radio="WIMAX"),
        native_row(4, height_m=2000),
        native_row(5, mcc=""),
        native_row(6, azimuth_deg="north"),
        native_row(1, name="again"),
        native_row(8, eirp_dbm=120),
    )

    response = admin.post(IMPORT_SITES, content=body, headers={"content-type": "text/csv"})

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    rejected = [
        {"index": 3, "field": "lat", "reason": "lat: outside -90..90"},
        {
            "index": 4,
            "field": "radio",
            "reason": "radio: unknown radio, expected GSM, UMTS, LTE or NR",
        },
        {"index": 5, "field": "height_m", "reason": "height_m: outside 0..650"},
        {"index": 6, "field": "mcc", "reason": "mcc: required field is missing"},
        {"index": 7, "field": "azimuth_deg", "reason": "azimuth_deg: not a number"},
        {
            "index": 8,
            "field": "cell",
            "reason": "cell: the same cell (radio, mcc, net, area, cell) as an earlier row",
        },
        {"index": 9, "field": "eirp_dbm", "reason": "eirp_dbm: outside 0..90"},
    ]
    assert response.json() == {
        "added": 1,
        "updated": 0,
        "unchanged": 0,
        "removed": 0,
        "rejected": rejected,
        "rejected_total": 7,
        "rejected_by_reason": {r["reason"]: 1 for r in rejected},
        "refreshing": True,
    }
    [cell] = store.sites().to_dict("records")
    assert cell["name"] == "Thượng Nông 1" and unicodedata.is_normalized("NFC", cell["name"])
    assert {
        k: cell[k]
        for k in (
            "site_id",
            "carrier",
            "radio",
            "cell_id",
            "area_code",
            "height_m",
            "azimuth_deg",
            "eirp_dbm",
            "freq_mhz",
        )
    } == {
        "site_id": "TN-01",
        "carrier": "Viettel",
        "radio": "lte",
        "cell_id": 1,
        "area_code": 22300,
        "height_m": 35.0,
        "azimuth_deg": 120.0,
        "eirp_dbm": 61.5,
        "freq_mhz": 1800.0,
    }
    assert str(cell["created"]) == "2023-11-14 22:13:20+00:00"


def test_crlf_cell_towers_csv_as_opencellid(admin: TestClient, store: Store) -> None:
    # A lomsong column in an OpenCelliD import is ignored, not read.
    body = CELL_TOWERS.replace(b"averageSignal\r\n", b"averageSignal,height_m\r\n", 1)

    response = admin.post(f"{IMPORT_SITES}?format=opencellid", content=body)

    assert response.status_code == 200
    assert response.json()["added"] == 3
    sites = store.sites()
    assert sites["carrier"].tolist() == ["VinaPhone", "VinaPhone", "MobiFone"]
    assert sites["radio"].tolist() == ["lte", "lte", "umts"]
    assert sites["range_m"].tolist() == [3446.0, 15000.0, 15000.0]  # empty: the maximum
    assert sites["height_m"].tolist() == [30.0] * 3  # the documented default
    assert sites["created"].isna().tolist() == [False, False, True]
    assert not any(str(v).endswith("\r") for v in sites.astype(str).to_numpy().ravel())


@pytest.mark.parametrize("how", ["multipart", "gzip", "multipart gzip"])
def test_site_file_as_multipart_or_gzip(admin: TestClient, store: Store, how: str) -> None:
    data = gzip.compress(CELL_TOWERS) if "gzip" in how else CELL_TOWERS
    if "multipart" in how:
        response = admin.post(IMPORT_SITES, files={"file": ("cell_towers.csv", data, "text/csv")})
    else:
        response = admin.post(IMPORT_SITES, content=data, headers={"content-encoding": "gzip"})

    assert response.status_code == 200, response.text
    assert response.json()["added"] == 3
    assert len(store.sites()) == 3


def test_reimport_changes_nothing(admin: TestClient, store: Store) -> None:
    first = admin.post(IMPORT_SITES, content=CELL_TOWERS).json()
    version = store.results_version()
    wait_for_refresh(admin)
    before = store.sites()

    again = admin.post(IMPORT_SITES, content=CELL_TOWERS)

    assert (first["added"], first["refreshing"]) == (3, True)
    assert again.json() == {
        "added": 0,
        "updated": 0,
        "unchanged": 3,
        "removed": 0,
        "rejected": [],
        "rejected_total": 0,
        "rejected_by_reason": {},
        "refreshing": False,
    }
    assert store.sites().equals(before)
    assert store.results_version() == version


def test_import_updates_a_cell_by_its_identity(admin: TestClient, store: Store) -> None:
    admin.post(IMPORT_SITES, content=native_file(native_row(1), native_row(2)))
    # Cell 2's TAC was re-planned and its power raised: the same LTE cell (ECGI), updated.
    changed = native_file(native_row(1), native_row(2, area=22301, eirp_dbm=63))

    response = admin.post(IMPORT_SITES, content=changed)

    assert {k: response.json()[k] for k in ("added", "updated", "unchanged")} == {
        "added": 0,
        "updated": 1,
        "unchanged": 1,
    }
    sites = store.sites().set_index("cell_id")
    assert (sites.loc[2, "area_code"], sites.loc[2, "eirp_dbm"]) == (22301, 63.0)
    assert len(sites) == 2


def test_replace_makes_the_file_the_whole_network(admin: TestClient, loaded_store: Store) -> None:
    response = admin.post(f"{IMPORT_SITES}?replace=true", content=CELL_TOWERS)

    assert {k: response.json()[k] for k in ("added", "removed")} == {"added": 3, "removed": 1}
    assert sorted(loaded_store.sites()["cell_id"].tolist()) == [70001, 512257, 512258]


def test_replace_with_refused_rows_changes_nothing(admin: TestClient, loaded_store: Store) -> None:
    body = native_file(native_row(1), native_row(2, lat=95), native_row(3, radio="CDMA"))

    response = admin.post(f"{IMPORT_SITES}?replace=true", content=body)

    assert response.status_code == 422
    assert response.json() == {
        "detail": "replace=true needs a file without refused rows; 2 refused"
        " (row 3: lat: outside -90..90; row 4: radio: CDMA is not analysed; expected GSM,"
        " UMTS, LTE or NR). Nothing was changed."
    }
    assert stored_cells(loaded_store) == [(CONFTEST_SITE, "lte", 1001)]


def test_replace_with_no_cells_is_refused(admin: TestClient, loaded_store: Store) -> None:
    response = admin.post(f"{IMPORT_SITES}?replace=true", content=native_file())

    assert (response.status_code, response.json()) == (
        422,
        {
            "detail": "replace=true with a file of no cells would delete every site."
            " Nothing was changed."
        },
    )
    assert len(loaded_store.sites()) == 1


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (b"", 422, "sites: the file is empty (no header line)"),
        (
            b"radio,mcc,lon,lat\r\nLTE,452,105.5,22.5\r\n",
            422,
            "sites: the header line lacks required column(s) net"
            " (the first line must name the columns)",
        ),
        (
            b"radio,mcc,net,lon,lat\n\xff\xfe,452,4,105,22\n",
            400,
            "sites: line 2, byte 22: 0xff is not UTF-8 text (invalid start byte). lomsong reads"
            " UTF-8 (or UTF-16) text; this looks like a legacy encoding (Windows-1258, Latin-1,"
            " TCVN3). In Excel use Save As, 'CSV UTF-8 (Comma delimited)'; in LibreOffice pick"
            " the character set 'Unicode (UTF-8)'",
        ),
        (b"\x1f\x8b\x08garbage", 400, None),
    ],
)
def test_unreadable_site_files(
    admin: TestClient, loaded_store: Store, body: bytes, status: int, detail: str | None
) -> None:
    response = admin.post(IMPORT_SITES, content=body)

    assert response.status_code == status
    if detail is not None:
        assert response.json() == {"detail": detail}
    assert len(loaded_store.sites()) == 1


def test_unknown_site_format_is_422(admin: TestClient, store: Store) -> None:
    assert admin.post(f"{IMPORT_SITES}?format=kml", content=CELL_TOWERS).status_code == 422


# --- DELETE /api/v1/sites/{site_id} -------------------------------------------------
def test_delete_site_then_404(admin: TestClient, loaded_store: Store) -> None:
    version = loaded_store.results_version()

    deleted = admin.delete(f"{SITES_URL}/{CONFTEST_SITE}")
    again = admin.delete(f"{SITES_URL}/{CONFTEST_SITE}")

    assert (deleted.status_code, deleted.content) == (204, b"")
    assert loaded_store.sites().empty
    assert loaded_store.results_version() > version  # maps drop the site
    assert (again.status_code, again.json()) == (404, {"detail": f"no site {CONFTEST_SITE!r}"})


def test_delete_one_cell_of_a_site(admin: TestClient, store: Store) -> None:
    admin.post(IMPORT_SITES, content=native_file(native_row(1), native_row(2)))

    assert admin.delete(f"{SITES_URL}/TN-01?cell_id=2").status_code == 204
    missing = admin.delete(f"{SITES_URL}/TN-01?radio=nr")

    assert stored_cells(store) == [("TN-01", "lte", 1)]
    assert (missing.status_code, missing.json()) == (404, {"detail": "no site 'TN-01', radio 'nr'"})


# --- POST /api/v1/villages/import -----------------------------------------------------
def test_villages_import_adds_updates_and_names_bad_features(
    admin: TestClient, loaded_store: Store
) -> None:
    nfd = unicodedata.normalize("NFD", "Khuôn Hạ")
    features = [
        village_feature(name=nfd),
        {
            **village_feature("ban-giong", name="Bản Giòng", households=101),
            "geometry": square(105.490, 22.560),
        },
        village_feature("x1", households=-3),
        village_feature("x2", households="many"),
        {
            **village_feature("x3"),
            "geometry": {"type": "LineString", "coordinates": [[105.5, 22.5], [105.6, 22.5]]},
        },
        {**village_feature("x4"), "geometry": square(500000.0, 2500000.0, 1000.0)},
        village_feature("x5", name=None),
        village_feature("x6", poverty_rate=1.5),
        village_feature("khuon-ha"),
        "not a feature",
        village_feature("x7", centre_lon=105.485),
    ]

    response = admin.post(
        IMPORT_VILLAGES, content=collection(*features), headers={"content-type": GEOJSON}
    )

    assert response.status_code == 200
    rejected = [
        (3, "households", "households: outside 0..1e+07"),
        (4, "households", "households: 'many' is not a number (1234, 1.234 or 1.234,5)"),
        (5, "geometry", "geometry: not a Point, Polygon or MultiPolygon"),
        (
            6,
            "geometry",
            "geometry: coordinates outside lon -180..180, lat -90..90 (GeoJSON is EPSG:4326)",
        ),
        (7, "name", "name: required field is missing"),
        (8, "poverty_rate", "poverty_rate: outside 0..1"),
        (9, "id", "id: the same id as an earlier feature"),
        (10, "feature", "feature: not a GeoJSON Feature object"),
        (11, "centre_lat", "centre_lat: give both or neither"),
    ]
    body = response.json()
    assert [(r["index"], r["field"], r["reason"]) for r in body.pop("rejected")] == rejected
    assert body == {
        "added": 1,
        "updated": 1,
        "unchanged": 0,
        "communes_added": 0,
        "rejected_total": 9,
        "rejected_by_reason": {reason: 1 for _, _, reason in rejected},
        "refreshing": True,
    }
    new = admin.get("/api/v1/villages/khuon-ha").json()["properties"]
    assert new["name"] == "Khuôn Hạ" and unicodedata.is_normalized("NFC", new["name"])
    assert (new["commune_id"], new["households"], new["poverty_rate"]) == ("thuong-nong", 75, 0.4)
    assert loaded_store.village("ban-giong")["households"].iloc[0] == 101
    assert "Khuôn Hạ" in [
        v["properties"]["name"] for v in admin.get("/api/v1/villages?q=khuon ha").json()["features"]
    ]


def test_villages_reimport_changes_nothing(admin: TestClient, loaded_store: Store) -> None:
    body = collection(village_feature(), village_feature("khuon-thuong", name="Khuôn Thượng"))
    first = admin.post(IMPORT_VILLAGES, content=body).json()
    wait_for_refresh(admin)
    version = loaded_store.results_version()

    again = admin.post(IMPORT_VILLAGES, content=body).json()

    assert (first["added"], first["refreshing"]) == (2, True)
    assert {k: again[k] for k in ("added", "updated", "unchanged", "refreshing")} == {
        "added": 0,
        "updated": 0,
        "unchanged": 2,
        "refreshing": False,
    }
    assert loaded_store.results_version() == version


def test_village_of_a_new_commune_brings_its_commune(
    admin: TestClient, loaded_store: Store
) -> None:
    feature = village_feature(
        "ban-pac", name="Bản Pắc", commune="Yên Hoa", centre_lon=105.485, centre_lat=22.565
    )

    response = admin.post(IMPORT_VILLAGES, content=collection(feature))

    assert response.json()["communes_added"] == 1
    communes = loaded_store.communes().set_index("id")
    assert communes.loc["yen-hoa", ["name", "district", "province"]].tolist() == [
        "Yên Hoa",
        "Na Hang",
        "Tuyên Quang",
    ]
    village = loaded_store.village("ban-pac").iloc[0]
    assert (village["commune_id"], village["centre_lon"]) == ("yen-hoa", 105.485)


def test_moving_a_communes_last_village_drops_its_dead_zones(
    admin: TestClient, loaded_store: Store
) -> None:
    moved = {**village_feature("dong-da-1", name="Đống Đa 1"), "geometry": square(105.41, 22.01)}

    response = admin.post(IMPORT_VILLAGES, content=collection(moved))

    assert response.json()["updated"] == 1
    assert loaded_store.village("dong-da-1")["commune_id"].iloc[0] == "thuong-nong"
    assert loaded_store.dead_zones(commune_id="linh-phu").empty


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (b"{", 400, "villages: not valid JSON at character 1: Expecting value"),
        (b'{"type": "Feature"}', 400, "villages: the object has no 'features' list"),
        (b"\xff", 400, "villages: the file is not UTF-8 text (invalid start byte)"),
    ],
)
def test_unreadable_village_files(
    admin: TestClient, loaded_store: Store, body: bytes, status: int, detail: str
) -> None:
    response = admin.post(IMPORT_VILLAGES, content=body)

    assert (response.status_code, response.json()) == (status, {"detail": detail})
    assert len(loaded_store.villages()) == 3


def test_village_file_as_multipart(admin: TestClient, loaded_store: Store) -> None:
    data = collection(village_feature())

    response = admin.post(IMPORT_VILLAGES, files={"file": ("villages.geojson", data, GEOJSON)})

    assert response.json()["added"] == 1


# --- DELETE /api/v1/villages/{id} ---------------------------------------------------
def test_delete_village_then_404(admin: TestClient, loaded_store: Store) -> None:
    deleted = admin.delete("/api/v1/villages/na-ta")

    assert (deleted.status_code, deleted.content) == (204, b"")
    assert admin.get("/api/v1/villages/na-ta").status_code == 404
    again = admin.delete("/api/v1/villages/na-ta")
    assert (again.status_code, again.json()) == (404, {"detail": "village 'na-ta' not found"})


def test_deleting_a_communes_last_village_drops_its_dead_zones(
    admin: TestClient, loaded_store: Store
) -> None:
    assert admin.delete("/api/v1/villages/dong-da-1").status_code == 204

    assert loaded_store.dead_zones()["commune_id"].tolist() == ["thuong-nong"]
    assert "dong-da-1" not in loaded_store.villages()["id"].tolist()


# --- the analysis follows the change ---------------------------------------------------
def test_site_changes_refresh_the_verdicts(admin: TestClient, loaded_store: Store) -> None:
    """With the real analysis: Bản Giòng is covered by the cell at its centre, then unknown."""
    app.services.analysis.analyze_communes(loaded_store)
    assert loaded_store.village("ban-giong")["verdict"].iloc[0] == "covered"

    assert admin.delete(f"{SITES_URL}/{CONFTEST_SITE}").status_code == 204
    wait_for_refresh(admin)
    without = loaded_store.village("ban-giong").iloc[0]

    site = native_row(1001, site="BG-1", lon=105.495, lat=22.565, azimuth_deg="", range=3000)
    assert admin.post(IMPORT_SITES, content=native_file(site)).json()["added"] == 1
    wait_for_refresh(admin)
    again = loaded_store.village("ban-giong").iloc[0]

    # No site left and no reading: not trắng sóng, unknown (nothing is known there).
    assert without["verdict"] == "unknown"
    assert without["households_without_signal"] == 0
    assert "site database does not cover" in without["reasons"][0]
    assert again["verdict"] == "covered"
    assert again["best_carrier"] == "Viettel"


def test_imported_village_is_judged(admin: TestClient, loaded_store: Store) -> None:
    feature = {
        **village_feature("ban-moi", name="Bản Mới"),
        "geometry": square(105.493, 22.563, 0.004),
    }

    admin.post(IMPORT_VILLAGES, content=collection(feature))
    wait_for_refresh(admin)

    judged = loaded_store.village("ban-moi").iloc[0]
    assert judged["verdict"] == "covered"  # the conftest's cell stands inside it
    assert judged["best_carrier"] == "Viettel"


# --- fuzzing: no input gets a server error -----------------------------------------------
@pytest.mark.slow
def test_admin_endpoints_never_answer_500(
    client: TestClient, loaded_store: Store, keys: dict[str, str]
) -> None:
    """Schemathesis on this file's endpoints, with an admin's key so bodies are parsed.

    ``tests/app/test_schemathesis.py`` fuzzes the whole schema without keys,
    where these endpoints stop at the 401.
    """
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    ours = ("/api/v1/sites", "/api/v1/villages/import", "/api/v1/villages/{village_id}")
    operations = [
        op
        for result in schema.get_all_operations()
        if (op := result.ok()).path.startswith(ours) and (op.path, op.method) != (ours[2], "get")
    ]
    # Five admin operations, and a village's challenges (POST takes a planner's key,
    # which an admin's includes; GET is public) under the same path.
    assert len(operations) == 7
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: schemathesis.Case) -> None:
            case.call_and_validate(
                headers={"X-API-Key": keys["admin"]}, checks=[not_a_server_error]
            )

        try:
            fuzz()
        except Exception as exc:  # every failing operation, not just the first
            failures.append(f"{operation.label}: {exc!r}")
    assert not failures, "\n".join(failures)
