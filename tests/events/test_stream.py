"""GET /api/events over a real socket, with the local stream worker publishing in-process."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from app.events.model import position
from app.settings import Settings
from tests.conftest import LATER, MakeUser, SignedIn
from tests.events.conftest import (
    WAIT_SECONDS,
    LiveServer,
    eventually,
    live_server,
    live_settings,
    open_stream,
)


async def send(http: httpx.AsyncClient, sender: SignedIn, **target: str) -> dict[str, Any]:
    response = await http.post("/api/messages", json=target, headers=sender.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_both_participants_and_every_tab_follow_a_conversation(
    live: LiveServer, make_user: MakeUser
) -> None:
    andrew, bayko = await make_user(), await make_user()
    async with (
        live.client() as http,
        open_stream(http, andrew) as andrew_tab,
        open_stream(http, bayko) as bayko_tab,
        open_stream(http, bayko) as bayko_other_tab,
    ):
        sent = await send(http, andrew, message="hello bayko", handle=bayko.user.handle)
        group = sent["message_group_uuid"]

        message = await bayko_tab.next_json("message")
        assert message == sent
        row = await bayko_tab.next_json("conversation")
        assert (row["uuid"], row["handle"], row["unread_count"]) == (group, andrew.user.handle, 1)
        assert row["message"] == "hello bayko"
        # The sender's own tab sees its message and its row too (tabs stay in sync).
        assert (await andrew_tab.next_json("message"))["uuid"] == sent["uuid"]
        own_row = await andrew_tab.next_json("conversation")
        assert (own_row["uuid"], own_row["unread_count"]) == (group, 0)

        reply = await send(http, bayko, message="hi!", message_group_uuid=group)
        assert (await andrew_tab.next_json("message"))["uuid"] == reply["uuid"]
        andrew_row = await andrew_tab.next_json("conversation")
        assert (andrew_row["message"], andrew_row["unread_count"]) == ("hi!", 1)
        # What the event announced, the list already shows.
        listing = await http.get("/api/message_groups", headers=andrew.headers)
        assert listing.json()[0]["unread_count"] == 1

        await bayko_other_tab.next("conversation")
        read = await http.post(f"/api/message_groups/{group}/read", headers=bayko.headers)
        assert read.status_code == 200
        marker = await bayko_other_tab.next_json("read")
        assert marker == {
            "message_group_uuid": group,
            "read_up_to_message_uuid": reply["uuid"],
            "unread_count": 0,
        }


async def test_a_client_that_reconnects_with_its_last_id_misses_no_new_message(
    live: LiveServer, make_user: MakeUser
) -> None:
    andrew, bayko = await make_user(), await make_user()
    async with live.client() as http:
        async with open_stream(http, bayko) as first:
            sent = await send(http, andrew, message="first", handle=bayko.user.handle)
            group = sent["message_group_uuid"]
            await first.next("conversation")
            last_seen = first.last_id

        sent_while_away = [
            (await send(http, andrew, message=f"away {n}", message_group_uuid=group))["uuid"]
            for n in range(3)
        ]

        async def all_applied() -> None:
            listing = await http.get("/api/message_groups", headers=bayko.headers)
            assert listing.json()[0]["unread_count"] == 4

        await eventually(all_applied)
        async with open_stream(http, bayko, headers={"Last-Event-ID": last_seen}) as again:
            replayed: list[str] = []
            while len(set(sent_while_away) - set(replayed)) > 0:
                replayed.append((await again.next_json("message"))["uuid"])
            row = await again.next_json("conversation")
            assert (row["message"], row["unread_count"]) == ("away 2", 4)
            assert [uuid for uuid in replayed if uuid in sent_while_away] == sent_while_away


async def test_an_id_too_old_or_unknown_gets_one_reset(
    live: LiveServer, make_user: MakeUser
) -> None:
    bayko = await make_user()
    async with live.client() as http:
        for resume in (
            {"headers": {"Last-Event-ID": "1"}},
            {"params": {"since": "yesterday"}},
            # Digits to str.isdigit() that int() refuses: unknown ids like any other.
            {"params": {"since": "\N{SUPERSCRIPT TWO}"}},
            {"headers": {"Last-Event-ID": "\N{SUPERSCRIPT TWO}"}},
        ):
            async with open_stream(http, bayko, **resume) as stream:
                reset = await stream.next()
                assert (reset.event, reset.json()) == ("reset", {})
        future = position(LATER)
        async with open_stream(http, bayko, params={"since": future}) as stream:
            assert stream.pending() == []  # nothing changed after that: no replay, no reset


async def test_streams_per_user_are_limited(
    settings: Settings, table: object, make_user: MakeUser
) -> None:
    async with live_server(live_settings(settings, events_max_streams_per_user=2)) as server:
        andrew, bayko = await make_user(), await make_user()
        async with (
            server.client() as http,
            open_stream(http, andrew),
            open_stream(http, andrew),
        ):
            refused = await http.get("/api/events", headers=andrew.headers)
            assert refused.status_code == 429
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["code"] == "too_many_streams"
            async with open_stream(http, bayko):  # another user is not affected
                pass


async def test_shutdown_ends_streams_with_a_retry_hint(
    live: LiveServer, make_user: MakeUser, settings: Settings
) -> None:
    andrew = await make_user()
    async with live.client() as http, open_stream(http, andrew) as stream:
        assert stream.retries == [settings.events_retry_ms]
        live.stop()
        await stream.wait_ended()
        assert len(stream.retries) == 2  # the farewell frame repeats the retry hint


async def test_an_idle_stream_carries_heartbeat_comments(
    settings: Settings, table: object, make_user: MakeUser
) -> None:
    andrew = await make_user()
    async with (
        live_server(live_settings(settings, events_heartbeat_seconds=0.2)) as server,
        server.client() as http,
        http.stream("GET", "/api/events", headers=andrew.headers) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-store"
        comments = 0
        async with asyncio.timeout(WAIT_SECONDS):
            async for line in response.aiter_lines():
                comments += line == ": heartbeat"
                if comments == 2:
                    break
