"""GET /api/users/@{handle}/short and GET /api/me: contract shape, lookups, auth, no leaks."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio

from app.repositories.table import Table
from tests.conftest import RunningApp, SignedIn
from tests.routers.conftest import sign_up

PROBLEM_JSON = "application/problem+json"
# What no response may contain: key attribute names, key prefixes, the identity link.
INTERNAL_MARKERS = ("pk", "sk", "cognito_sub", "USER#", "HANDLE#", "SUB#", "PROFILE")


@dataclass(frozen=True)
class Residents:
    andrew: SignedIn
    bayko: SignedIn


@pytest_asyncio.fixture(scope="module")
async def residents(running_app: RunningApp, module_table: Table) -> Residents:
    return Residents(
        await sign_up(running_app, module_table, "andrew", "Andrew Brown"),
        await sign_up(running_app, module_table, "Bayko", "Bayko the Bold"),
    )


def assert_no_internals(response: httpx.Response, who: SignedIn) -> None:
    for marker in INTERNAL_MARKERS:
        assert marker not in response.text
    assert who.user.cognito_sub is not None
    assert who.user.cognito_sub not in response.text


@pytest.mark.parametrize("spelling", ["Bayko", "bayko", "BAYKO", "bAyKo"])
async def test_short_profile_is_exactly_the_contract_fields_for_any_case(
    http: httpx.AsyncClient, residents: Residents, spelling: str
) -> None:
    response = await http.get(f"/api/users/@{spelling}/short", headers=residents.andrew.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "uuid": str(residents.bayko.user.uuid),
        "handle": "Bayko",  # as the user chose it, whatever the spelling of the lookup
        "display_name": "Bayko the Bold",
    }
    assert_no_internals(response, residents.bayko)


async def test_own_short_profile_is_available_too(
    http: httpx.AsyncClient, residents: Residents
) -> None:
    response = await http.get("/api/users/@andrew/short", headers=residents.andrew.headers)
    assert response.status_code == 200
    assert response.json()["uuid"] == str(residents.andrew.user.uuid)


async def test_unknown_handle_is_404(http: httpx.AsyncClient, residents: Residents) -> None:
    response = await http.get("/api/users/@nobody_here/short", headers=residents.andrew.headers)
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"] == "user_not_found"


@pytest.mark.parametrize("path", ["/api/users/@bayko/short", "/api/me"])
async def test_user_routes_require_a_token(
    http: httpx.AsyncClient, residents: Residents, path: str
) -> None:
    response = await http.get(path)
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"] == "token_missing"
    assert response.headers["www-authenticate"].startswith("Bearer ")
    assert "Bayko the Bold" not in response.text


@pytest.mark.parametrize(
    "handle",
    ["bad.handle", "no%20spaces", "semi;colon", "x" * 33, "%C3%A9t%C3%A9", "%00", "bay%2Fko"],
)
async def test_invalid_handle_is_a_4xx_problem(
    http: httpx.AsyncClient, residents: Residents, handle: str
) -> None:
    response = await http.get(f"/api/users/@{handle}/short", headers=residents.andrew.headers)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"] in {"handle_invalid", "not_found"}  # bay%2Fko: no route


async def test_an_empty_handle_matches_no_route(
    http: httpx.AsyncClient, residents: Residents
) -> None:
    response = await http.get("/api/users/@/short", headers=residents.andrew.headers)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


async def test_me_is_the_signed_in_users_profile_without_internals(
    http: httpx.AsyncClient, residents: Residents
) -> None:
    for who in (residents.andrew, residents.bayko):
        response = await http.get("/api/me", headers=who.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["uuid"], body["handle"], body["display_name"]) == (
            str(who.user.uuid),
            who.user.handle,
            who.user.display_name,
        )
        assert set(body) == {"uuid", "handle", "display_name", "created_at"}
        assert body["created_at"] is not None  # read from the identity link, no extra GetItem
        assert_no_internals(response, who)
