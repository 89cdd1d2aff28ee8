"""The web client's serving: index.html for its routes, its files with cache validators, a strict
CSP, its configuration per auth mode; and the API around it unchanged."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from pydantic import ValidationError

from app.main import create_app
from app.settings import Settings
from tests.conftest import RunningApp

HOSTED_UI = {
    "cognito_hosted_ui_domain": "https://cruddur.auth.us-east-1.amazoncognito.com",
    "cognito_web_client_id": "web-client",
    "cognito_web_redirect_uri": "https://cruddur.example/auth/callback",
}
COGNITO: dict[str, Any] = {
    "auth_mode": "cognito",
    "cognito_user_pool_id": "us-east-1_AbC123",
    "cognito_app_client_ids": ["web-client", "other-client"],
    "cursor_secret": "s" * 32,
}
CLIENT_PATHS = [
    "/",
    "/messages",
    "/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399",
    "/messages/new/londo",
    "/auth/callback?code=abc&state=def",
]


@pytest_asyncio.fixture
async def http(running_app: RunningApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=running_app.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def app_client(**settings: Any) -> httpx.AsyncClient:
    """The routes under test need no lifespan state: the app as configured, not started."""
    application = create_app(Settings(**settings, _env_file=None))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://t")


@pytest.mark.parametrize("path", CLIENT_PATHS)
async def test_client_routes_serve_the_page_under_a_strict_csp(
    http: httpx.AsyncClient, path: str
) -> None:
    response = await http.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/assets/js/main.js">' in response.text
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self';" in csp
    assert "unsafe" not in csp
    assert response.headers["cache-control"] == "no-cache"


async def test_files_are_revalidated_with_their_etag(http: httpx.AsyncClient) -> None:
    script = await http.get("/assets/js/main.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.headers["cache-control"] == "no-cache"
    again = await http.get("/assets/js/main.js", headers={"If-None-Match": script.headers["etag"]})
    assert again.status_code == 304
    style = await http.get("/assets/app.css")
    assert style.headers["content-type"].startswith("text/css")
    missing = await http.get("/assets/js/nothing.js")
    assert missing.status_code == 404


async def test_the_api_around_the_client_is_unchanged(http: httpx.AsyncClient) -> None:
    unknown = await http.get("/api/no/such/route")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["code"] == "not_found"
    for path in ("/livez", "/docs", "/.well-known/jwks.json"):
        assert (await http.get(path)).status_code == 200, path
    paths = (await http.get("/openapi.json")).json()["paths"]
    assert all(path.startswith(("/api/", "/livez", "/readyz", "/.well-known/")) for path in paths)


async def test_local_config_offers_the_sign_in_handles() -> None:
    async with app_client(local_sign_in_handles="andrewbrown, bayko") as client:
        config = (await client.get("/config.json")).json()
    assert config == {
        "auth_mode": "local",
        "sign_in_handles": ["andrewbrown", "bayko"],
        "hosted_ui": None,
    }


async def test_cognito_config_and_csp_name_the_hosted_ui() -> None:
    async with app_client(**COGNITO, **HOSTED_UI, local_sign_in_handles="bayko") as client:
        config = (await client.get("/config.json")).json()
        page = await client.get("/messages")
    assert config == {
        "auth_mode": "cognito",
        "sign_in_handles": [],
        "hosted_ui": {
            "domain": HOSTED_UI["cognito_hosted_ui_domain"],
            "client_id": "web-client",
            "redirect_uri": HOSTED_UI["cognito_web_redirect_uri"],
            "scope": "openid",
        },
    }
    csp = page.headers["content-security-policy"]
    assert f"connect-src 'self' {HOSTED_UI['cognito_hosted_ui_domain']};" in csp


async def test_cognito_without_hosted_ui_settings_serves_no_sign_in() -> None:
    async with app_client(**COGNITO) as client:
        config = (await client.get("/config.json")).json()
    assert config["hosted_ui"] is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cognito_web_client_id": None}, "CRUDDUR_COGNITO_WEB_CLIENT_ID"),
        ({"cognito_hosted_ui_domain": "http://auth.example"}, "https:// origin"),
        ({"cognito_web_redirect_uri": "http://cruddur.example/cb"}, "only allowed on loopback"),
        ({"cognito_web_client_id": "unknown"}, "one of CRUDDUR_COGNITO_APP_CLIENT_IDS"),
    ],
)
def test_incomplete_or_unsafe_hosted_ui_settings_are_refused(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**{**COGNITO, **HOSTED_UI, **change}, _env_file=None)
