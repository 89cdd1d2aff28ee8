"""Serves the browser client: its static files, its configuration, and index.html for its routes.

The client routes with the history API, so every client path answers with index.html; paths
under /api, /docs and the rest never reach these routes, and an unknown /api path stays a
problem+json 404. Files are revalidated on each use (``no-cache`` with an ETag: a 304 costs no
body), so a deployment never mixes old and new modules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from pydantic import BaseModel
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from app.settings import Settings

STATIC_DIR = Path(__file__).parent / "static"
INDEX_HTML = STATIC_DIR / "index.html"
CLIENT_ROUTES = ("/", "/messages", "/messages/{path:path}", "/auth/callback")
CACHE_CONTROL = "no-cache"


def content_security_policy(settings: Settings) -> str:
    """No inline script or style, nothing from elsewhere except the Hosted UI's token calls."""
    connect = "'self'"
    if settings.hosted_ui_enabled:
        connect += f" {settings.cognito_hosted_ui_domain}"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src {connect}; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )


class HostedUi(BaseModel):
    domain: str
    client_id: str
    redirect_uri: str
    scope: str = "openid"


class ClientConfig(BaseModel):
    auth_mode: Literal["local", "cognito"]
    sign_in_handles: list[str]
    hosted_ui: HostedUi | None


def client_config(settings: Settings) -> ClientConfig:
    hosted_ui = None
    if settings.hosted_ui_enabled:
        hosted_ui = HostedUi(
            domain=settings.cognito_hosted_ui_domain or "",
            client_id=settings.cognito_web_client_id or "",
            redirect_uri=settings.cognito_web_redirect_uri or "",
        )
    return ClientConfig(
        auth_mode=settings.auth_mode,
        sign_in_handles=settings.local_sign_in_handles if settings.is_local else [],
        hosted_ui=hosted_ui,
    )


class _ClientFiles(StaticFiles):
    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__(directory=STATIC_DIR)
        self.extra_headers = headers

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(self.extra_headers)
        return response


def mount_client(app: FastAPI, settings: Settings) -> None:
    headers = {
        "Cache-Control": CACHE_CONTROL,
        "Content-Security-Policy": content_security_policy(settings),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    config = client_config(settings)
    router = APIRouter(include_in_schema=False)

    async def index() -> FileResponse:
        return FileResponse(INDEX_HTML, headers=headers)

    for path in CLIENT_ROUTES:
        router.add_api_route(path, index, methods=["GET"], name=f"client:{path}")

    @router.get("/config.json")
    async def config_json() -> ClientConfig:
        return config

    app.include_router(router)
    app.mount("/assets", _ClientFiles(headers), name="assets")
