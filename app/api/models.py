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
