"""The region as admins set it up: ``POST /api/v1/region`` loads one, ``GET`` says what is loaded.

The same load as ``lomsong region load`` (:func:`app.services.region.load_region`):
the files come as one ``multipart/form-data`` body, at most
``LOMSONG_MAX_IMPORT_BYTES`` in all, spooled to disk under their own names
(GDAL tells formats by suffix) and deleted afterwards.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import IO, Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from app.api.deps import AdminDep, SettingsDep, StoreDep
from app.core.errors import BadRequestError, PayloadTooLargeError, UnprocessableError
from app.services.region import RegionFiles, load_region, region_summary
from geodata.errors import GeodataError, InvalidInputError
from geodata.villages import FieldMap

router = APIRouter(prefix="/api/v1/region", tags=["region"])

_FILES = ("communes", "villages", "sites", "dem", "population", "buildings")
_REQUIRED = ("communes", "villages", "sites", "dem")
_TEXT_FIELDS = ("communes_fields", "villages_fields", "sites_format", "points_crs")
_CHUNK = 1024 * 1024
# What an uploaded file's name may keep: letters, digits, dot, dash, underscore.
_UNSAFE = re.compile(r"[^\w.-]+")

_MULTIPART_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": list(_REQUIRED),
                    "properties": {
                        **{name: {"type": "string", "format": "binary"} for name in _FILES},
                        "communes_fields": {
                            "type": "string",
                            "description": '"gadm", or a JSON object {"name": "TEN_XA", ...}',
                        },
                        "villages_fields": {
                            "type": "string",
                            "description": 'A JSON object {"households": "SO_HO", ...}',
                        },
                        "sites_format": {"type": "string", "enum": ["native", "opencellid"]},
                        "points_crs": {"type": "string", "default": "EPSG:4326"},
                    },
                }
            }
        },
    }
}


async def _chunks(handle: IO[bytes]) -> AsyncGenerator[bytes, None]:
    while chunk := handle.read(_CHUNK):
        yield chunk


def _field_map(text: str | None, what: str) -> FieldMap:
    if not text:
        return FieldMap()
    if text.strip() == "gadm":
        return FieldMap.preset("gadm")
    try:
        mapping = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnprocessableError(f"{what}: not a JSON object ({exc})") from None
    if not isinstance(mapping, dict):
        raise UnprocessableError(f"{what}: not a JSON object")
    return FieldMap.parse(mapping)


async def _spool_form(request: Request, folder: Path, *, max_bytes: int) -> dict[str, Any]:
    """Save the form's files in ``folder/<field>/<name>``, and its text fields."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise BadRequestError("send the region as multipart/form-data (one part per file)")
    with tempfile.TemporaryFile(dir=folder) as raw:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise PayloadTooLargeError(f"request body is larger than {max_bytes} bytes")
            raw.write(chunk)
        raw.seek(0)
        parser = MultiPartParser(
            request.headers, _chunks(raw), max_files=len(_FILES), max_fields=len(_TEXT_FIELDS)
        )
        try:
            form = await parser.parse()
        except MultiPartException as exc:
            raise BadRequestError(f"request body is not valid multipart/form-data: {exc}") from exc
    found: dict[str, Any] = {}
    try:
        for name, value in form.multi_items():
            if name not in (*_FILES, *_TEXT_FIELDS):
                raise BadRequestError(
                    f"unknown form field {name!r}; known: {', '.join((*_FILES, *_TEXT_FIELDS))}"
                )
            if name in found:
                raise BadRequestError(f"form field {name!r} given twice")
            if name in _FILES:
                if not isinstance(value, UploadFile):
                    raise BadRequestError(f"{name}: a file part is expected")
                safe = _UNSAFE.sub("_", Path(value.filename or name).name).lstrip(".") or name
                target = folder / name / safe
                target.parent.mkdir()
                with target.open("wb") as out:
                    shutil.copyfileobj(value.file, out, _CHUNK)
                found[name] = target
            else:
                if isinstance(value, UploadFile):
                    raise BadRequestError(f"{name}: a text field is expected, not a file")
                found[name] = value
    finally:
        await form.close()
    missing = [name for name in _REQUIRED if name not in found]
    if missing:
        raise UnprocessableError(f"missing file part(s): {', '.join(missing)}")
    return found


@router.post("", openapi_extra=_MULTIPART_BODY)
async def load_region_files(
    request: Request, store: StoreDep, settings: SettingsDep, caller: AdminDep
) -> dict[str, Any]:
    """Replace the region with the files sent, then analyse it (admins).

    Parts ``communes``, ``villages``, ``sites``, ``dem`` (files; ``population``
    and ``buildings`` optional) and the text fields ``communes_fields``, ``villages_fields``,
    ``sites_format``, ``points_crs`` (as ``lomsong region load``). Answers the
    accepted and refused rows of each input (``rejected``: ``index`` is the
    feature's position or the row's line, from 1), the rasters stored and the verdicts. A 422 names
    the file and why (no valid row, or features that miss the communes:
    swapped lon/lat, a wrong CRS); nothing is stored then.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.data_dir, prefix=".upload-") as tmp:
        folder = Path(tmp)
        form = await _spool_form(request, folder, max_bytes=settings.max_import_bytes)
        files = RegionFiles(
            communes=form["communes"],
            villages=form["villages"],
            sites=form["sites"],
            dem=form["dem"],
            population=form.get("population"),
            buildings=form.get("buildings"),
            communes_fields=_field_map(form.get("communes_fields"), "communes_fields"),
            villages_fields=_field_map(form.get("villages_fields"), "villages_fields"),
            sites_format=form.get("sites_format") or "native",
            points_crs=form.get("points_crs") or "EPSG:4326",
        )
        if files.sites_format not in {"native", "opencellid"}:
            raise UnprocessableError("sites_format: 'native' or 'opencellid'")
        try:
            report = await run_in_threadpool(
                load_region, store, files, data_dir=settings.data_dir, rasters=settings.rasters
            )
        except GeodataError as exc:
            # Name the files as sent, not where they were spooled.
            message = str(exc).replace(f"{folder}/", "")
            raise (type(exc) if isinstance(exc, InvalidInputError) else InvalidInputError)(
                message
            ) from None
    answer = report.as_dict()
    for part in answer["inputs"].values():  # the spool folder is no business of the caller's
        part.pop("path", None)
    return answer


@router.get("")
def show_region(store: StoreDep, settings: SettingsDep, caller: AdminDep) -> dict[str, Any]:
    """Tell what is loaded (admins): counts, extents, unit types, verdicts, rasters, last load."""
    summary = region_summary(store, rasters=settings.rasters)
    last = summary.get("last_load")
    if isinstance(last, dict):  # uploaded files were spooled under a temporary folder
        last["files"] = {k: Path(v).name for k, v in last.get("files", {}).items()}
    return summary
