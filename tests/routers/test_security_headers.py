"""Protective headers: every answer (errors and preflights too), no-store on /api, HSTS opt-in."""

from __future__ import annotations

import httpx
import pytest

from app.settings import Settings
from tests.conftest import MakeUser
from tests.routers.conftest import serving

PROTECTIVE = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "content-security-policy": "frame-ancestors 'none'",
}


def assert_protected(response: httpx.Response) -> None:
    assert {name: response.headers.get(name) for name in PROTECTIVE} == PROTECTIVE
    assert "strict-transport-security" not in response.headers


async def test_api_answers_are_never_cached_and_carry_the_protective_headers(
    client: httpx.AsyncClient, make_user: MakeUser, settings: Settings
) -> None:
    andrew = await make_user()
    preflight = {"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"}
    answers = [
        await client.get("/api/message_groups", headers=andrew.headers),
        await client.get("/api/me"),  # 401 problem+json
        await client.post(
            "/api/messages",
            content=b"x" * (settings.max_body_bytes + 1),
            headers={**andrew.headers, "Content-Type": "application/json"},
        ),  # 413 from the body cap
        await client.options("/api/messages", headers=preflight),
        await client.get("/api/no_such_route"),
    ]
    assert [answer.status_code for answer in answers] == [200, 401, 413, 200, 404]
    for answer in answers:
        assert_protected(answer)
        assert answer.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", ["/livez", "/openapi.json", "/docs"])
async def test_other_answers_carry_the_protective_headers(
    client: httpx.AsyncClient, path: str
) -> None:
    answer = await client.get(path)
    assert answer.status_code == 200
    assert_protected(answer)


async def test_hsts_is_sent_only_when_configured(settings: Settings) -> None:
    async with serving(settings.model_copy(update={"hsts_max_age_seconds": 31536000})) as served:
        answer = await served.http.get("/livez")
    assert answer.headers["strict-transport-security"] == "max-age=31536000"
