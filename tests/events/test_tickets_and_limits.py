"""Stream tickets, tokens in URLs, and the bounded queue that disconnects a slow consumer."""

from __future__ import annotations

import asyncio
import time
from uuid import uuid4

import httpx
import pytest
from pydantic import ValidationError

from app.events.bus import Event, Hub, InProcessBus
from app.settings import Settings
from tests.conftest import MakeUser, RunningApp
from tests.events.conftest import LiveServer, live_server, live_settings, open_stream


async def ticket_for(http: httpx.AsyncClient, headers: dict[str, str]) -> str:
    response = await http.post("/api/events/tickets", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["expires_in"] > 0
    ticket: str = body["ticket"]
    return ticket


async def test_a_ticket_opens_one_stream_once(live: LiveServer, make_user: MakeUser) -> None:
    andrew = await make_user()
    async with live.client() as http:
        ticket = await ticket_for(http, andrew.headers)
        async with open_stream(http, params={"ticket": ticket}):
            pass
        again = await http.get("/api/events", params={"ticket": ticket})
        assert again.status_code == 401
        assert again.json()["code"] == "ticket_invalid"
        forged = ticket[:-2] + ("AA" if not ticket.endswith("AA") else "BB")
        # Non-ASCII signatures and payloads too: compare_digest refuses to compare those.
        for bad in (
            forged,
            "",
            "a.b",
            "no-dots-at-all",
            "a.\N{LATIN SMALL LETTER E WITH ACUTE}",
            f"{ticket[:-1]}\N{LATIN SMALL LETTER E WITH ACUTE}",
            "\N{SNOWMAN}.x",
        ):
            refused = await http.get("/api/events", params={"ticket": bad})
            assert (refused.status_code, refused.json()["code"]) == (401, "ticket_invalid")


async def test_an_expired_ticket_is_refused(
    settings: Settings, table: object, make_user: MakeUser
) -> None:
    andrew = await make_user()
    async with (
        live_server(live_settings(settings, events_ticket_ttl_seconds=1)) as server,
        server.client() as http,
    ):
        ticket = await ticket_for(http, andrew.headers)
        expires_at = int(ticket.split(".")[1])
        await asyncio.sleep(max(0.0, expires_at - time.time()) + 1.1)
        expired = await http.get("/api/events", params={"ticket": ticket})
        assert (expired.status_code, expired.json()["code"]) == (401, "ticket_invalid")


async def test_an_access_token_in_the_url_is_refused(live: LiveServer, make_user: MakeUser) -> None:
    andrew = await make_user()
    token = andrew.headers["Authorization"].removeprefix("Bearer ")
    async with live.client() as http:
        in_url = await http.get("/api/events", params={"access_token": token})
        assert (in_url.status_code, in_url.json()["code"]) == (401, "token_in_url")
        as_ticket = await http.get("/api/events", params={"ticket": token})
        assert (as_ticket.status_code, as_ticket.json()["code"]) == (401, "ticket_invalid")
        unsigned = await http.get("/api/events")
        assert (unsigned.status_code, unsigned.json()["code"]) == (401, "token_missing")
        assert (await http.post("/api/events/tickets")).status_code == 401


async def test_a_slow_consumer_is_disconnected_without_slowing_the_others() -> None:
    bus = InProcessBus(Hub(queue_size=4, max_streams_per_user=8))
    user = uuid4()
    slow = await bus.subscribe(user)
    fast = await bus.subscribe(user)
    received: list[Event] = []

    async def drain() -> None:
        while (event := await fast.queue.get()) is not None:
            received.append(event)

    reader = asyncio.create_task(drain())
    sent = [Event("message", str(n), {"n": n}) for n in range(50)]
    for event in sent:
        await bus.publish(user, event)
        await asyncio.sleep(0)  # the fast reader keeps up; the slow one never reads
    assert slow.reason == "lagged"
    assert slow.queue.get_nowait() is None  # its stream ends at once, nothing else queued
    await bus.unsubscribe(slow)
    assert bus.hub.open_streams == 1
    fast.end("shutdown")
    async with asyncio.timeout(5):
        await reader
    assert received == sent


async def test_a_stream_ends_when_the_access_token_that_opened_it_expires(
    live: LiveServer, make_user: MakeUser, running_app: RunningApp
) -> None:
    andrew = await make_user()
    issuer = running_app.state.local_issuer
    assert issuer is not None
    assert andrew.user.cognito_sub is not None
    short = issuer.mint_access_token(
        sub=andrew.user.cognito_sub, username=andrew.user.handle, lifetime_seconds=2
    )
    headers = {"Authorization": f"Bearer {short}"}
    async with live.client() as http:
        ticket = await ticket_for(http, headers)
        for opened_with in ({"headers": headers}, {"params": {"ticket": ticket}}):
            async with open_stream(http, **opened_with) as stream:  # type: ignore[arg-type]
                await stream.wait_ended()
                assert len(stream.retries) == 2  # ended by the server, with a retry hint


def test_the_redis_url_must_be_a_redis_url() -> None:
    for good in ("redis://127.0.0.1:6379/0", "rediss://cache.example:6379/0"):
        assert Settings(events_redis_url=good, _env_file=None).events_redis_url == good
    with pytest.raises(ValidationError, match="redis://"):
        Settings(events_redis_url="http://127.0.0.1:6379", _env_file=None)
