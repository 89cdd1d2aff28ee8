"""Liveness, readiness and failure answers: never a 500 when DynamoDB is missing or down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import httpx
import pytest
import pytest_asyncio

from app.repositories.table import Table
from app.settings import Settings
from app.state import AppState
from tests.conftest import RunningApp
from tests.routers.conftest import ServedApp, closed_loopback_url, serving, settings_like

PROBLEM_JSON = "application/problem+json"
MISSING_TABLE = "cruddur-messages-never-created"


@pytest_asyncio.fixture(scope="module")
async def endpoint_down(settings: Settings) -> AsyncIterator[ServedApp]:
    """The app pointed at a loopback port where nothing listens, failing fast (one attempt)."""
    down = settings_like(
        settings,
        ddb_endpoint_url=closed_loopback_url(),
        ddb_connect_timeout=0.5,
        ddb_read_timeout=0.5,
        ddb_max_attempts=1,
    )
    async with serving(down) as served:
        yield served


@pytest_asyncio.fixture(scope="module")
async def table_missing(settings: Settings) -> AsyncIterator[ServedApp]:
    async with serving(settings_like(settings, table_name=MISSING_TABLE)) as served:
        yield served


def token_headers(state: AppState) -> dict[str, str]:
    """A valid token of the app's local issuer (the dev endpoint needs DynamoDB itself)."""
    assert state.local_issuer is not None
    token = state.local_issuer.mint_access_token(
        sub="sub-of-someone", username="someone", lifetime_seconds=300
    )
    return {"Authorization": f"Bearer {token}"}


async def test_livez_needs_no_dependency(endpoint_down: ServedApp) -> None:
    response = await endpoint_down.http.get("/livez")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_readyz_is_200_when_the_table_is_active(
    http: httpx.AsyncClient, module_table: Table
) -> None:
    response = await http.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "ok",
        "checks": {"shutdown": "ok", "table": "ok", "token_keys": "ok"},
    }


async def test_readyz_is_503_when_the_table_does_not_exist(table_missing: ServedApp) -> None:
    response = await table_missing.http.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["table"] == "table_missing"
    assert body["checks"]["token_keys"] == "ok"


async def test_readyz_is_503_when_dynamodb_is_unreachable(endpoint_down: ServedApp) -> None:
    response = await endpoint_down.http.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["table"] == "dynamodb_unreachable"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/message_groups", None),
        ("GET", "/api/me", None),
        ("POST", "/api/messages", {"message": "hi", "handle": "bayko"}),
    ],
)
async def test_data_endpoints_answer_503_when_dynamodb_is_unreachable(
    endpoint_down: ServedApp, method: str, path: str, body: dict[str, str] | None
) -> None:
    response = await endpoint_down.http.request(
        method, path, json=body, headers=token_headers(endpoint_down.state)
    )
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"] == "dynamodb_unreachable"
    assert int(response.headers["retry-after"]) >= 1


async def test_data_endpoints_answer_503_when_the_table_does_not_exist(
    table_missing: ServedApp,
) -> None:
    headers = token_headers(table_missing.state)
    response = await table_missing.http.get("/api/message_groups", headers=headers)
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"] == "table_missing"
    assert "retry-after" in response.headers


async def test_the_dev_token_endpoint_answers_503_when_dynamodb_is_unreachable(
    endpoint_down: ServedApp,
) -> None:
    response = await endpoint_down.http.post("/api/dev/tokens", json={"handle": "andrew"})
    assert response.status_code == 503
    assert response.json()["code"] == "dynamodb_unreachable"


@pytest.mark.parametrize("path", ["/api/nothing-here", "/api/messages/a/b/c", "/nope"])
async def test_unknown_route_is_a_404_problem(http: httpx.AsyncClient, path: str) -> None:
    response = await http.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert (problem["status"], problem["code"]) == (404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/api/message_groups", "GET"),
        ("PUT", "/livez", "GET"),
        ("GET", "/api/dev/tokens", "POST"),
        # Two routes at one path: Allow names both (Starlette's would name the first only).
        ("GET", f"/api/messages/{uuid4()}/{uuid4()}", "DELETE, PATCH"),
        ("GET", "/api/users/@bayko/block", "DELETE, POST"),
    ],
)
async def test_wrong_method_is_a_405_problem(
    http: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    response = await http.request(method, path)
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"] == "method_not_allowed"
    assert response.headers["allow"] == allowed


async def test_readyz_reports_draining_after_shutdown_begins(
    running_app: RunningApp, http: httpx.AsyncClient, module_table: Table
) -> None:
    lifecycle = running_app.state.lifecycle  # what the server flips on SIGTERM
    lifecycle.draining = True
    try:
        response = await http.get("/readyz")
    finally:
        lifecycle.draining = False
    assert response.status_code == 503
    assert response.json()["checks"]["shutdown"] == "draining"
