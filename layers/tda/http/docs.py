"""``/docs`` (Swagger UI) and ``/redoc``, their assets served from this host.

FastAPI's pages load Swagger UI and ReDoc (and ReDoc Google's fonts) from CDNs: a blank page on
a machine without the internet (a lab, a CI runner). The assets here are fastapi-offline's
(Swagger UI 5, which reads OpenAPI 3.1; ReDoc 2), found where pip put them without importing the
package. Where it is not installed (the Lambda layers carry no docs), the pages load them from
the CDNs as FastAPI's own do.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, Response
from starlette.exceptions import HTTPException

# Every file a page links to, and its type: nothing else of the package's folder is served.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}

router = APIRouter(include_in_schema=False)


@functools.cache
def _assets() -> Path | None:
    found = importlib.util.find_spec("fastapi_offline")
    if found is None or not found.submodule_search_locations:
        return None
    folder = Path(next(iter(found.submodule_search_locations))) / "static"
    return folder if all((folder / name).is_file() for name in ASSETS) else None


def _linked(request: Request, **urls: str) -> dict[str, Any]:
    """The pages' asset URLs (``name=file``) under this app's root, or none (the CDNs')."""
    root = request.scope.get("root_path", "")
    return {name: f"{root}/docs/{file}" for name, file in urls.items()} if _assets() else {}


def _openapi(request: Request) -> str:
    return f"{request.scope.get('root_path', '')}{request.app.openapi_url}"


@router.get("/docs")
async def swagger_ui(request: Request) -> Response:
    assets = _linked(
        request,
        swagger_js_url="swagger-ui-bundle.js",
        swagger_css_url="swagger-ui.css",
        swagger_favicon_url="favicon.png",
    )
    title = f"{request.app.title} - Swagger UI"
    return get_swagger_ui_html(openapi_url=_openapi(request), title=title, **assets)


@router.get("/redoc")
async def redoc(request: Request) -> Response:
    assets = _linked(request, redoc_js_url="redoc.standalone.js", redoc_favicon_url="favicon.png")
    title = f"{request.app.title} - ReDoc"
    return get_redoc_html(
        openapi_url=_openapi(request), title=title, with_google_fonts=not assets, **assets
    )


@router.get("/docs/{name}")
async def asset(name: str) -> Response:
    folder = _assets()
    if folder is None or name not in ASSETS:
        raise HTTPException(status_code=404, detail="Not Found")
    return FileResponse(
        folder / name, media_type=ASSETS[name], headers={"cache-control": "public, max-age=86400"}
    )
