"""The OpenAPI explorer at ``/docs``, from Swagger UI's assets in a pinned package (offline).

FastAPI's own ``/docs`` loads Swagger UI from a CDN, so it is blank without internet; its
``/redoc`` likewise, so it is not served. ``CRUDDUR_DOCS_ENABLED=false`` turns off the explorer,
its assets and ``/openapi.json``.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

DOCS_URL = "/docs"
OPENAPI_URL = "/openapi.json"
ASSETS_URL = f"{DOCS_URL}/assets"


def install_docs(app: FastAPI) -> None:
    """Serve the explorer and its assets; call on an app built with ``docs_url=None``."""
    app.mount(ASSETS_URL, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get(DOCS_URL, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=OPENAPI_URL,
            title=f"{app.title} - API explorer",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon-32x32.png",
        )
