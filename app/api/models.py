"""The API's answers as pydantic models: what the OpenAPI schema promises a client.

JSON answers are returned as these models. GeoJSON pages are sent as
:class:`app.api.responses.GeoJSONResponse` (encoded once, not validated
again); their models are declared on the routes for the schema only, and
the Schemathesis test checks every answer against them.
"""

from __future__ import annotations

import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from app.core.security import Role
from geodata.constants import Verdict

# --- uploads and imports -------------------------------------------------


class Rejection(BaseModel):
    """One refused row: its index in the upload, the field at fault and why."""

    index: int = Field(
        description="Where the refused row is, counting from 1: in a file, its line (the header"
        " is line 1, so the first data row is 2; in a spreadsheet, the row number Excel shows);"
        " in JSON (a request body, a JSON, geosubmit or GeoJSON file, a vector file's"
        " features), the item's position in its list (the first object is 1)."
    )
    field: str
    reason: str = Field(description="``field: reason``, as counted in ``rejected_by_reason``.")


class RejectionAccounting(BaseModel):
    """The refused rows of an upload or import: the first listed, all counted."""

    rejected: list[Rejection] = Field(description="The first 1,000 refused rows, by index.")
    rejected_total: int = Field(ge=0)
    rejected_by_reason: dict[str, int] = Field(description="Refused rows per ``field: reason``.")


class UploadReport(RejectionAccounting):
    """What happened to an upload of readings; bad rows never sink the good ones."""

    accepted: int = Field(ge=0, description="Readings newly stored.")
    duplicates: int = Field(ge=0, description="Readings already stored (or repeated).")
    upload_id: int | None = Field(None, description="The upload's id (``GET /api/v1/uploads``).")
    outside_region: int = Field(
        0,
        ge=0,
        description="Valid readings outside every loaded region (the stored communes and"
        " villages, with a 0.02° margin): not stored, and not counted as rejected.",
    )
    notes: list[str] = Field(
        default_factory=list, description="What was not stored, and why, in words."
    )


class SiteImportReport(RejectionAccounting):
    """What a site import did to the stored cells."""

    added: int = Field(ge=0)
    updated: int = Field(ge=0)
    unchanged: int = Field(ge=0)
    removed: int = Field(ge=0)
    refreshing: bool = Field(description="Whether verdicts are being re-judged.")


class VillageImportReport(RejectionAccounting):
    """What a village import did."""

    added: int = Field(ge=0)
    updated: int = Field(ge=0)
    unchanged: int = Field(ge=0)
    communes_added: int = Field(ge=0)
    refreshing: bool = Field(description="Whether verdicts are being re-judged.")


class GeosubmitAnswer(BaseModel):
    """``{}``, as geosubmit clients expect."""

    model_config = ConfigDict(extra="forbid")


# --- keys, health, errors ------------------------------------------------


class KeyPublic(BaseModel):
    """An API key's public description; never the secret."""

    id: str
    role: Role
    name: str | None
    created: str
    revoked: str | None


class KeyCreated(KeyPublic):
    """A new key: the only answer that carries the secret."""

    key: str = Field(description="The secret key; shown once, here.")


class Health(BaseModel):
    """Liveness, and what the service holds."""

    status: Literal["ok"]
    demo: bool
    counts: dict[str, int] = Field(description="Rows per table.")
    refresh_pending: int = Field(ge=0, description="Uploads whose villages are being re-judged.")


class ErrorDetail(BaseModel):
    """Every refusal: a 4xx with one sentence, or FastAPI's list for invalid parameters."""

    detail: str | list[dict[str, Any]]


#: Declared on every route: a 422 is the service's one sentence as often as FastAPI's list.
# Inline, with its media type: a route's own response class (GeoJSON, HTML) is not the errors'.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {
        "description": "A parameter or body the endpoint cannot take.",
        "content": {"application/json": {"schema": ErrorDetail.model_json_schema()}},
    }
}


# --- GeoJSON (RFC 7946) ----------------------------------------------------


class Geometry(BaseModel):
    """A GeoJSON geometry in EPSG:4326 (lon, lat)."""

    type: Literal["Point", "Polygon", "MultiPolygon", "GeometryCollection", "LineString"]
    coordinates: list[Any] = Field(default_factory=list)


class CarrierSummary(BaseModel):
    """One carrier in one village."""

    model_config = ConfigDict(extra="allow")

    households_without_signal: int | None = None
    centre_p_usable: float | None = None
    radio: str | None = None
    evidence: str | None = None
    nearest_site_m: int | None = Field(
        default=None, description="Distance from the village centre to the carrier's nearest site."
    )
    nearest_site_id: str | None = None
    terrain_loss_db: float | None = Field(
        default=None, description="Terrain loss on the path from that site (null without a DEM)."
    )
    behind_terrain: bool | None = Field(
        default=None, description="Whether the terrain blocks the line of sight from that site."
    )
    readings: int | None = Field(default=None, description="The carrier's readings in the village.")
    reading_days: int | None = Field(default=None, description="Days from the first to the last.")
    unusable_share: float | None = Field(
        default=None, description="Share of those readings without usable signal."
    )


class VillageProperties(BaseModel):
    """A village and its verdict."""

    id: str
    name: str
    commune_id: str | None
    commune: str | None
    district: str | None
    province: str | None
    households: int
    population: float | None
    poverty_rate: float | None
    centre_lon: float | None
    centre_lat: float | None
    boundary: Literal["polygon", "voronoi"] | None = Field(
        default=None, description="``voronoi``: approximate, a cell around the village's point."
    )
    verdict: Verdict
    households_without_signal: int | None
    best_carrier: str | None
    carriers: dict[str, CarrierSummary] | None
    readings_count: int
    last_reading: datetime.date | None = Field(
        description="The day of the last reading (``YYYY-MM-DD``, UTC): the day, never the time."
    )
    confidence: float | None
    reasons: list[str] | None
    reasons_vi: list[str] | None
    rank_score: float | None = Field(default=None, description="With ``rank`` or ``weight``.")


class DeadZoneProperties(BaseModel):
    """A contiguous area without (or with patchy) signal, inside one village."""

    id: str
    commune_id: str | None
    carrier: str = Field(
        description='"any": even the best carrier fails here; else the carrier whose zone it is.'
    )
    radio: str | None = Field(description="The radio whose zone it is; null: every radio.")
    village_id: str | None = Field(description="The one village the zone lies in.")
    verdict: Literal["no_signal", "patchy"]
    area_km2: float | None
    households: int | None
    village_ids: list[str] | None = Field(description="``[village_id]``, kept for old clients.")
    carriers_absent: list[str] | None
    nearest_site_m: float | None
    district: str | None
    province: str | None


class SiteProperties(BaseModel):
    """One cell of a carrier's site."""

    site_id: str | None
    name: str | None
    carrier: str | None
    mcc: int
    mnc: int
    radio: str | None
    cell_id: int | None
    area_code: int | None
    lon: float
    lat: float
    height_m: float | None
    azimuth_deg: float | None = Field(description="``null``: an omni antenna.")
    beamwidth_deg: float | None
    eirp_dbm: float | None
    freq_mhz: float | None
    range_m: float | None
    created: str | None


P = TypeVar("P", bound=BaseModel)


class Feature(BaseModel, Generic[P]):
    """One GeoJSON Feature."""

    type: Literal["Feature"]
    properties: P
    geometry: Geometry | None


class Link(BaseModel):
    """A link to the next page."""

    rel: Literal["next"]
    href: str
    type: str


class FeatureCollection(BaseModel, Generic[P]):
    """A page of features, with ``numberMatched``/``numberReturned`` and a ``next`` link."""

    type: Literal["FeatureCollection"]
    features: list[Feature[P]]
    numberMatched: int | None = Field(default=None, ge=0)  # noqa: N815 (OGC API name)
    numberReturned: int | None = Field(default=None, ge=0)  # noqa: N815
    links: list[Link] | None = None


VillageFeature = Feature[VillageProperties]
VillageCollection = FeatureCollection[VillageProperties]
DeadZoneCollection = FeatureCollection[DeadZoneProperties]
SiteCollection = FeatureCollection[SiteProperties]


# --- uploads as batches and jobs -----------------------------------------


UploadStatus = Literal["queued", "running", "done", "failed"]


class UploadSummary(BaseModel):
    """One upload: who sent what, when, and what became of its rows."""

    id: int
    owner: str = Field(description="The key (``key:<id>``) or client address that sent it.")
    created: str = Field(description="When it arrived (ISO 8601, UTC).")
    origin: str = Field(
        description="``readings`` (JSON batch), ``import`` (file) or ``geosubmit``."
    )
    format: str | None = Field(description="The file's format (``json``, ``csv``...).")
    status: UploadStatus
    rows_read: int = Field(ge=0, description="Rows read so far (a job's progress).")
    bytes_total: int | None = Field(description="The file's size in bytes, for a job.")
    accepted: int = Field(ge=0)
    duplicates: int = Field(ge=0)
    rejected_total: int = Field(ge=0)
    rejected_by_reason: dict[str, int]
    outside_region: int = Field(ge=0)
    error: str | None = Field(description="Why a failed upload stopped.")
    finished: str | None = Field(description="When it ended (ISO 8601, UTC).")


class UploadList(BaseModel):
    """The caller's uploads, newest first (an admin sees everyone's)."""

    uploads: list[UploadSummary]


class UploadDetail(UploadSummary):
    """One upload; ``report`` is the synchronous answer, once it is done."""

    report: UploadReport | None = None


class UploadDeleted(BaseModel):
    """What deleting an upload removed."""

    id: int
    readings_removed: int = Field(ge=0)
    refreshing: bool = Field(description="Whether the villages it touched are being re-judged.")


class UploadQueued(BaseModel):
    """A file import accepted as a job (202): follow ``Location``."""

    id: int
    status: UploadStatus
    location: str = Field(description="``/api/v1/uploads/{id}``: its progress and result.")


# --- what-if scenarios -----------------------------------------------------


class ScenarioSiteIn(BaseModel):
    """A hypothetical site; other keys (a plan's ``cost``, ``kind``...) are ignored.

    Checked by :func:`app.services.scenarios.validate_sites`, which names each
    bad item (from 1), field, value and reason in one 422.
    """

    model_config = ConfigDict(extra="allow")

    lon: float = Field(description="Degrees east (EPSG:4326).")
    lat: float = Field(description="Degrees north (EPSG:4326).")
    height_m: float | None = Field(None, description="Antenna height; default 30 m.")
    carrier: str = Field(description="A brand (Viettel, VinaPhone, MobiFone...) or ``MCC-MNC``.")
    radio: str | None = Field(None, description="gsm, umts, lte or nr; default the carrier's main.")
    candidate_id: str | None = Field(
        None, description="Its id (a plan's candidate's); default ``what-if-N``."
    )


class ScenarioRequest(BaseModel):
    """``POST /api/v1/scenarios``: up to 50 hypothetical sites and, optionally, where to judge."""

    name: str | None = Field(None, max_length=200)
    # Items are plain objects: each one's fields are checked with its index, not by pydantic.
    sites: list[Any] = Field(
        min_length=1, max_length=50, json_schema_extra={"items": ScenarioSiteIn.model_json_schema()}
    )
    commune_ids: list[str] | None = Field(
        None, description="Communes to re-judge; default: every one with a village within 15 km."
    )


class ScenarioSite(BaseModel):
    """A site of a scenario as analysed (its radio filled in)."""

    candidate_id: str
    lon: float
    lat: float
    height_m: float
    carrier: str
    radio: str


class ScenarioVillage(BaseModel):
    """One village with and without the scenario's sites."""

    village_id: str
    name: str
    commune_id: str | None
    households: int | None
    verdict_before: Verdict | None
    verdict_after: Verdict
    households_without_signal_before: int | None
    households_without_signal_after: int | None
    households_newly_served: int | None = Field(description="Before − after.")
    confidence_before: float | None
    confidence_after: float | None
    carriers_before: dict[str, int | None] = Field(
        description="Households without signal of each carrier, before."
    )
    carriers_after: dict[str, int | None]


class ScenarioTotals(BaseModel):
    """What the scenario changes, over its villages."""

    villages: int = Field(ge=0)
    villages_changed: int = Field(ge=0, description="Villages whose verdict changes.")
    households_newly_served: int = Field(description="Net, over the villages.")
    villages_out_of_no_signal: int = Field(ge=0, description="No signal → patchy or covered.")
    villages_out_of_patchy: int = Field(ge=0, description="Patchy → covered.")


class ScenarioSummary(BaseModel):
    """A saved scenario, as listed."""

    id: str = Field(description="Random; also the map's link, ``/maps/scenarios/{id}``.")
    name: str | None
    created: str = Field(description="ISO 8601, UTC.")
    owner: str = Field(description="The key that made it (``key:<id>``).")
    commune_ids: list[str]
    sites_count: int = Field(ge=1)
    totals: ScenarioTotals


class Scenario(BaseModel):
    """A what-if scenario: its sites, and every village it re-judged, before and after."""

    id: str = Field(description="Random; also the map's link, ``/maps/scenarios/{id}``.")
    name: str | None
    created: str = Field(description="ISO 8601, UTC; the sites are dated then.")
    owner: str = Field(description="The key that made it (``key:<id>``).")
    commune_ids: list[str]
    sites: list[ScenarioSite]
    villages: list[ScenarioVillage]
    totals: ScenarioTotals
    footprint_cells: int = Field(
        ge=0, description="H3 res-10 cells it newly serves (some carrier usable, none before)."
    )
    map_url: str


class ScenarioList(BaseModel):
    """A page of scenarios, newest first."""

    scenarios: list[ScenarioSummary]
    total: int = Field(ge=0)
    limit: int
    offset: int


class ScenarioComparedVillage(BaseModel):
    """One village in two scenarios: households without signal in each, and the difference."""

    village_id: str
    name: str
    commune_id: str | None
    verdict: Verdict | None
    verdict_other: Verdict | None
    households_without_signal: int | None
    households_without_signal_other: int | None
    difference: int | None = Field(description="Other − this; negative: the other serves more.")


class ScenarioComparison(BaseModel):
    """Two scenarios side by side."""

    id: str
    other_id: str
    totals: ScenarioTotals
    totals_other: ScenarioTotals
    villages: list[ScenarioComparedVillage]


# --- where to measure next, and challenges to verdicts ------------------------

SurveyKind = Literal["challenge", "uncertain_verdict", "predicted_only", "network_change"]


class SurveyPlace(BaseModel):
    """One place a field visit would most firm up a verdict (``coverage.survey``)."""

    rank: int = Field(ge=1, description="1 first: challenged villages, then by score.")
    commune_id: str | None
    village_id: str
    village: str = Field(description="The village's name.")
    lon: float = Field(ge=-180, le=180, description="Where to go: decimal degrees, EPSG:4326.")
    lat: float = Field(ge=-90, le=90)
    kind: SurveyKind
    households: float = Field(ge=0, description="The households the place concerns.")
    score: float = Field(
        ge=0,
        description="households × doubt, doubt = 1 − |2p − 1| (1 at a coin toss, 0 when sure):"
        " the households a visit could still turn. A challenge counts all its village's.",
    )
    reason: str
    reason_vi: str


class SurveyPlan(BaseModel):
    """Where to measure next in one commune: aggregates only (no device, reading or key)."""

    commune_id: str
    places: list[SurveyPlace]


class ChallengeBody(BaseModel):
    """A dispute of a village's verdict ("we have no signal at the cultural house")."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=1000, description="What is wrong, in words.")
    author: str = Field(
        min_length=1,
        max_length=200,
        description="Who says so, as they give it (``Chủ tịch UBND xã Thượng Nông``): shown.",
    )
    lon: float | None = Field(None, ge=-180, le=180, description="Where (inside the commune).")
    lat: float | None = Field(None, ge=-90, le=90)


class Challenge(BaseModel):
    """A challenge as anyone may read it: never the key that sent it."""

    id: int
    village_id: str
    text: str
    author: str
    lon: float | None
    lat: float | None
    created: str = Field(description="When it was made (ISO 8601, UTC).")
    verdict: str | None = Field(description="The verdict it disputed.")
    status: Literal["open", "settled"] = Field(
        description="``settled`` once readings in the village taken after it make a cell"
        " measured (``coverage.thresholds.MIN_READINGS_MEASURED`` of one carrier and radio)."
    )
    settled: str | None = Field(description="When it was settled (ISO 8601, UTC).")
    verdict_settled: str | None = Field(description="The village's verdict when settled.")


class ChallengeList(BaseModel):
    """A village's challenges, oldest first."""

    village_id: str
    challenges: list[Challenge]


# --- plans: the sites that would serve the most households -----------------


class PlanSummary(BaseModel):
    """What a plan does in all, and what it was asked for."""

    commune_id: str
    households_served: float = Field(
        ge=0, description="Households newly served by the plan, each counted once."
    )
    cost: float = Field(ge=0, description="The chosen sites' cost, VND.")
    method: str = Field(description="The algorithm and its guarantee, with the citation.")
    k: int | None = Field(description="Most sites picked (the default when no budget is given).")
    budget: float | None = Field(description="Most the plan may cost, VND.")
    carrier: str | None = Field(description="Households counted without this carrier; null: any.")
    candidates_evaluated: int = Field(ge=0)
    villages_out_of_no_signal: int = Field(ge=0, description="no_signal before, not after.")
    villages_out_of_patchy: int = Field(ge=0, description="patchy before, covered after.")
    results_version: int = Field(ge=0, description="The results the plan was made on.")


class PlanCandidateProperties(BaseModel):
    """One chosen site: where, what, what it adds, in the plan's order."""

    rank: int = Field(ge=1)
    candidate_id: str
    kind: Literal["colocation", "new_site", "uploaded", "hypothetical"]
    carrier: str
    radio: str | None
    lon: float = Field(description="The mast (the geometry is its predicted footprint).")
    lat: float
    height_m: float
    cost: float = Field(description="VND.")
    host_site_id: str | None = Field(description="The existing mast, for a co-location.")
    households_served: float = Field(description="Households it alone would newly serve.")
    households_served_own: float = Field(
        description="Households its own carrier does not serve today that it would."
    )
    villages_out_of_no_signal: int
    villages_out_of_patchy: int
    marginal_households: float = Field(
        description="Households it newly serves that no earlier pick serves."
    )
    cumulative_households: float
    cumulative_cost: float


class PlanVillage(BaseModel):
    """One village before and after the plan (point estimates)."""

    village_id: str
    name: str
    commune_id: str | None
    households: float
    households_without_signal_before: float
    households_without_signal_after: float
    verdict_before: Verdict
    verdict_after: Verdict
    newly_served_share: float = Field(description="Share of its households newly served.")


class PlanAnswer(BaseModel):
    """A commune's plan: the summary, the chosen sites with footprints, the villages."""

    summary: PlanSummary
    chosen: FeatureCollection[PlanCandidateProperties] = Field(
        description="The chosen in rank order; each geometry is where its signal would be usable."
    )
    villages: list[PlanVillage]
