"""CRUDDUR_ERROR_FORMAT=spa: error bodies the Cruddur SPA can render (a JSON array of codes),
while a client asking for ``application/problem+json`` still gets RFC 9457."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest_asyncio

from app.settings import Settings
from tests.conftest import MakeUser
from tests.routers.conftest import ServedApp, serving, settings_like

PROBLEM = "application/problem+json"


@pytest_asyncio.fixture
async def spa_app(settings: Settings) -> AsyncIterator[ServedApp]:
    async with serving(settings_like(settings, error_format="spa")) as app:
        yield app


async def test_errors_are_arrays_of_codes_for_the_spa(
    spa_app: ServedApp, make_user: MakeUser
) -> None:
    andrew = await make_user()
    http = spa_app.http
    answers = {
        "blank": await http.post(
            "/api/messages", json={"message": " ", "handle": "x"}, headers=andrew.headers
        ),
        "no token": await http.get("/api/me"),
        "no route": await http.get("/api/nothing-here", headers=andrew.headers),
        "too large": await http.post(
            "/api/messages", content=b"x" * 20_000, headers=andrew.headers
        ),
        "not a member": await http.get(
            "/api/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399", headers=andrew.headers
        ),
    }
    assert {name: (a.status_code, a.json()) for name, a in answers.items()} == {
        "blank": (422, ["message_blank"]),
        "no token": (401, ["token_missing"]),
        "no route": (404, ["not_found"]),
        "too large": (413, ["body_too_large"]),
        "not a member": (404, ["message_group_not_found"]),
    }
    for answer in answers.values():
        assert answer.headers["content-type"] == "application/json"
        assert "Accept" in answer.headers["vary"]
    assert answers["no token"].headers["www-authenticate"].startswith("Bearer")


async def test_asking_for_problem_details_always_gets_them(
    spa_app: ServedApp, make_user: MakeUser
) -> None:
    andrew = await make_user()
    accept = {"Accept": f"{PROBLEM}, application/json;q=0.5"}
    blank = await spa_app.http.post(
        "/api/messages", json={"message": "", "handle": "x"}, headers={**andrew.headers, **accept}
    )
    too_large = await spa_app.http.post(
        "/api/messages", content=b"x" * 20_000, headers={**andrew.headers, **accept}
    )
    for answer, code in ((blank, "message_blank"), (too_large, "body_too_large")):
        assert answer.headers["content-type"] == PROBLEM
        assert answer.json()["code"] == code


async def test_the_default_format_is_problem_details(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    andrew = await make_user()
    blank = await client.post(
        "/api/messages", json={"message": "", "handle": "x"}, headers=andrew.headers
    )
    assert blank.headers["content-type"] == PROBLEM
    assert blank.json()["code"] == "message_blank"
