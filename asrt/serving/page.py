"""The HTTP server's pages: the recognition page at ``/`` (``asrt/serving/web/``: plain HTML, CSS and
JavaScript, no build step) and the OpenAPI page at ``/docs`` with Swagger UI's assets served from the
``fastapi-offline`` package (Swagger UI 5, which renders FastAPI's OpenAPI 3.1; the swagger-ui-bundle
package's 4.15 does not), so that neither asks anything of the network beyond this server.

ASRT's own server answers ``GET /`` with an HTML page too (and ``POST /`` with its JSON, which stays); its
SDKs only POST.
"""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

WEB_DIR = Path(__file__).parent / "web"
WEB_PREFIX = "/web"
SWAGGER_PREFIX = "/docs-assets"


def swagger_ui_dir() -> Path:
    """Swagger UI's files (``swagger-ui-bundle.js``, ``swagger-ui.css``, ``favicon.png``), from the
    fastapi-offline package (the serve extra)."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


def add_page_routes(app: FastAPI) -> None:
    """``GET /`` (the recognition page), its files under ``/web/``, and ``/docs`` with local assets (the app
    must be made with ``docs_url=None, redoc_url=None``)."""
    app.mount(WEB_PREFIX, StaticFiles(directory=WEB_DIR), name="web")
    app.mount(SWAGGER_PREFIX, StaticFiles(directory=swagger_ui_dir()), name="docs-assets")

    @app.get("/", response_class=HTMLResponse, tags=["ASRT"], summary="The recognition page (microphone, files, pinyin)")
    async def index_page():
        return FileResponse(WEB_DIR / "index.html", media_type="text/html; charset=utf-8")

    @app.get("/docs", include_in_schema=False)
    async def docs_page() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title}: API",
                                   swagger_js_url=f"{SWAGGER_PREFIX}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{SWAGGER_PREFIX}/swagger-ui.css",
                                   swagger_favicon_url=f"{SWAGGER_PREFIX}/favicon.png")
