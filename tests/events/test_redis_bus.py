"""The Redis bus against a real redis-server: instances deliver to their own connections."""

from __future__ import annotations

import asyncio
import contextlib

from app.events.bus import RedisPublisher
from app.settings import Settings
from app.streams.worker import run_worker
from tests.conftest import MakeUser
from tests.events.conftest import WAIT_SECONDS, live_server, live_settings, open_stream


async def test_a_client_on_one_instance_gets_the_event_of_a_send_through_another(
    settings: Settings, table: object, make_user: MakeUser, redis_url: str
) -> None:
    instance = live_settings(settings, events_redis_url=redis_url, stream_worker_enabled=False)
    andrew, bayko = await make_user(), await make_user()
    publisher = RedisPublisher(redis_url)
    stop = asyncio.Event()
    # The one stream consumer (the Lambda's part), publishing through Redis only.
    worker = asyncio.create_task(run_worker(instance, stop, publisher))
    try:
        async with (
            live_server(instance) as first,
            live_server(instance) as second,
            first.client() as via_first,
            second.client() as via_second,
            open_stream(via_second, bayko) as bayko_on_second,
            open_stream(via_first, andrew) as andrew_on_first,
        ):
            sent = await via_first.post(
                "/api/messages",
                json={"message": "across instances", "handle": bayko.user.handle},
                headers=andrew.headers,
            )
            assert sent.status_code == 200, sent.text
            assert await bayko_on_second.next_json("message") == sent.json()
            row = await bayko_on_second.next_json("conversation")
            assert (row["handle"], row["unread_count"]) == (andrew.user.handle, 1)
            assert (await andrew_on_first.next_json("message"))["uuid"] == sent.json()["uuid"]

            # mark-read on one instance reaches the user's tab on the other
            group = sent.json()["message_group_uuid"]
            read = await via_first.post(f"/api/message_groups/{group}/read", headers=bayko.headers)
            assert read.status_code == 200
            assert (await bayko_on_second.next_json("read"))["unread_count"] == 0

            # a ticket is single-use across instances (its use is remembered in Redis)
            ticket = (await via_first.post("/api/events/tickets", headers=bayko.headers)).json()
            async with open_stream(via_second, params={"ticket": ticket["ticket"]}):
                pass
            reused = await via_first.get("/api/events", params={"ticket": ticket["ticket"]})
            assert (reused.status_code, reused.json()["code"]) == (401, "ticket_invalid")
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(worker, WAIT_SECONDS)
        await publisher.aclose()
