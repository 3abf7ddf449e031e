"""The front door and the API's documentation, served with no request to another host.

``/`` sends people to the maps. ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc)
load their scripts from the npm packages ``swagger-ui-dist`` and ``redoc`` that
``make assets`` installs beside Leaflet (``LOMSONG_ASSETS_DIR``), not from a CDN,
and ReDoc goes without Google Fonts: both work in a village office offline.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.routing import Mount

from app.api.responses import CachedStaticFiles
from app.core.config import Settings

#: Where the packages' files are served.
SWAGGER_UI_URL = "/static/swagger-ui"
REDOC_URL = "/static/redoc"
#: The files the pages load, per package directory.
SWAGGER_UI_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")
REDOC_FILES = ("redoc.standalone.js",)
#: The pages may load from this service only. ReDoc's sidebar fetches its
#: vendor's logo from cdn.redoc.ly whatever its options say: the browser blocks
#: it before it leaves (ReDoc hides the image when it fails). Both draw with
#: inline scripts and styles, and ReDoc searches in a ``blob:`` worker.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
    )
)


def _check(directory: Path, files: tuple[str, ...], package: str) -> None:
    missing = [name for name in files if not (directory / name).is_file()]
    if missing:
        raise RuntimeError(
            f"{package} not found at {directory} (missing {', '.join(missing)}); "
            f"run `make assets` or set LOMSONG_ASSETS_DIR to a node_modules directory "
            f"holding {package}"
        )


def docs_router(settings: Settings) -> APIRouter:
    """Build the routes of ``/``, ``/docs`` and ``/redoc``, and mount their packages' files.

    Parameters
    ----------
    settings : Settings
        Where the packages are (:attr:`Settings.swagger_ui_dir`, :attr:`Settings.redoc_dir`).

    Returns
    -------
    APIRouter
        For :meth:`fastapi.FastAPI.include_router`; create the app with
        ``docs_url=None, redoc_url=None`` so that FastAPI's CDN pages give way.

    Raises
    ------
    RuntimeError
        When a package's files are missing (run ``make assets``).
    """
    _check(settings.swagger_ui_dir, SWAGGER_UI_FILES, "swagger-ui-dist")
    _check(settings.redoc_dir, REDOC_FILES, "redoc")
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    def front_door(request: Request) -> RedirectResponse:
        """Send people to the list of maps (307: a later front page may take ``/``)."""
        return RedirectResponse(f"{request.scope.get('root_path', '')}/maps", status_code=307)

    @router.get("/docs")
    def swagger_ui(request: Request) -> HTMLResponse:
        """Swagger UI on this service's OpenAPI, from its own files."""
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{request.app.openapi_url}",
            title=f"{request.app.title} — API",
            swagger_js_url=f"{root}{SWAGGER_UI_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{SWAGGER_UI_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{SWAGGER_UI_URL}/favicon-32x32.png",
            # The validator badge would fetch an image from validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None},
        )
        page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return page

    @router.get("/redoc")
    def redoc(request: Request) -> HTMLResponse:
        """ReDoc on this service's OpenAPI, from its own files, without Google Fonts."""
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=f"{root}{request.app.openapi_url}",
            title=f"{request.app.title} — API",
            redoc_js_url=f"{root}{REDOC_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{SWAGGER_UI_URL}/favicon-32x32.png",
            with_google_fonts=False,
        )
        page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return page

    router.routes.append(
        Mount(
            SWAGGER_UI_URL, CachedStaticFiles(directory=settings.swagger_ui_dir), name="swagger-ui"
        )
    )
    router.routes.append(
        Mount(REDOC_URL, CachedStaticFiles(directory=settings.redoc_dir), name="redoc")
    )
    return router
